"""`docsign register` from a shell: take numbers for paper documents, list and export the registers; bad
input is one line and an exit code, and writes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.exchange.directory import add_agency
from docsign.models import OutgoingEntry
from tests.conftest import run_cli

pytestmark = pytest.mark.embedded_only
PROVINCE = "000.00.00.H30"
YEAR = dt.date.today().year - 1  # a closed year: the dates below are in the past whatever the day


def _entries(settings) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(OutgoingEntry)) or 0


def test_numbers_listing_exports_and_bad_input(migrated, settings_env, tmp_path):
    with session_scope(migrated.database_url) as s:
        add_agency(s, code=PROVINCE, name="Ủy ban nhân dân tỉnh Hòa Bình")

    def number(*extra: str):  # type: ignore[no-untyped-def]
        return run_cli("register", "number", "--agency", PROVINCE, "--notation", "ubnd-vp", "--subject",
                       "Giấy mời họp giao ban", *extra, env=settings_env)

    first = number("--date", f"{YEAR}-06-05", "--signer", "Nguyễn Văn An")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"01/UBND-VP {YEAR}-06-05"
    assert number("--date", f"09/06/{YEAR}").stdout.strip() == f"02/UBND-VP {YEAR}-06-09"
    legal = run_cli("register", "number", "--agency", PROVINCE, "--notation", "QĐ-UBND", "--subject",
                    "Ban hành quy chế", "--book", "legal", "--type-name", "Quyết định", "--date", f"{YEAR}-06-09",
                    env=settings_env)
    assert legal.stdout.strip() == f"01/QĐ-UBND {YEAR}-06-09", legal.stderr

    for args, message in [
        (("--number", "2", "--date", f"{YEAR}-06-10"), f"error: number 02 is already used in Sổ văn bản đi {YEAR}"),
        (("--date", f"{YEAR}-06-07"), f"error: the date 07/06/{YEAR} is before 09/06/{YEAR}, the date of number 02"),
        (("--number", "7", "--date", f"{YEAR}-06-10"), "error: numbers in Sổ văn bản đi"),
        (("--book", "legal", "--date", f"{YEAR}-06-10"), "error: a legal normative document is numbered in the series"),
    ]:
        refused = number(*args)
        assert refused.returncode == 65, (args, refused.stderr)
        assert refused.stderr.startswith(message) and refused.stderr.count("\n") == 1, refused.stderr
    assert _entries(migrated) == 3

    table = run_cli("register", "outgoing", "--agency", PROVINCE, "--from", f"{YEAR}-06-06", env=settings_env)
    assert table.returncode == 0 and f"Từ ngày 06/06/{YEAR}" in table.stdout and "(2 entries)" in table.stdout
    assert "01/QĐ-UBND" in table.stdout and "01/UBND-VP" not in table.stdout
    out = tmp_path / "so-di.csv"
    assert run_cli("register", "outgoing", "--agency", PROVINCE, "--format", "csv", "-o", str(out),
                   env=settings_env).returncode == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "Số, ký hiệu văn bản"
    assert [r[0] for r in rows[1:]] == ["01/UBND-VP", "01/QĐ-UBND", "02/UBND-VP"]
    assert rows[1][4] == "Nguyễn Văn An"
    pdf = tmp_path / "so-den.pdf"
    assert run_cli("register", "arrivals", "--agency", PROVINCE, "--format", "pdf", "-o", str(pdf),
                   env=settings_env).returncode == 0
    assert pdf.read_bytes().startswith(b"%PDF-")

    bad_period = run_cli("register", "arrivals", "--agency", PROVINCE, "--from", "2026-05-01", "--to", "2026-04-01",
                         env=settings_env)
    assert bad_period.returncode == 65 and "after it ends" in bad_period.stderr
    missing = run_cli("register", "assign", "9", "--agency", PROVINCE, "--unit", "Phòng Nội vụ", env=settings_env)
    assert missing.returncode == 66 and "arrival 9 is not in your agency's register" in missing.stderr
    unknown = run_cli("register", "arrivals", "--agency", "000.00.99.H30", env=settings_env)
    assert unknown.returncode == 66
    assert not list(tmp_path.glob(".*.tmp")), "no half-written export"
