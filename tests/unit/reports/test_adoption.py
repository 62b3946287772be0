"""The adoption report's figures against a seeded history, counted by hand (tests/unit/reports/history.py);
on SQLite and on PostgreSQL, whose date functions differ. Then the exports read back, the command line,
and the periods that are refused."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from docsign.cli import cli
from docsign.config import load_settings, prepare_data_dir
from docsign.db import session_scope
from docsign.errors import EX_DATAERR
from docsign.exchange.directory import add_agency
from docsign.reports import export
from docsign.reports.adoption import Figures, adoption, agency_tree, parse_period
from docsign.reports.errors import InvalidPeriod
from tests.conftest import run_cli
from tests.support.backends import backend_names, provision
from tests.unit.reports.history import EXPECTED, SEAL_REASON, seed

P, C, G, S = "000.00.00.H30", "000.00.35.H30", "000.01.35.H30", "000.00.00.G22"
# The query test runs once on SQLite and once on PostgreSQL (the broker plays no part).
DATABASES = ["embedded"] + (["postgres-redis"] if "postgres-redis" in backend_names() else [])


def _settings(tmp_path, database: str):  # type: ignore[no-untyped-def]
    from docsign import migrations

    settings = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
                              "DOCSIGN_DATABASE_URL": database})
    prepare_data_dir(settings)
    migrations.upgrade(settings.database_url)
    return settings


def seed_agencies_and_history(database_url: str) -> dict[str, int]:
    with session_scope(database_url) as s:
        p = add_agency(s, code=P, name="Ủy ban nhân dân tỉnh Hòa Bình")
        c = add_agency(s, code=C, name="Ủy ban nhân dân huyện Lạc Sơn", parent_code=P)
        g = add_agency(s, code=G, name="Phòng Nội vụ huyện Lạc Sơn", parent_code=C)
        sender = add_agency(s, code=S, name="Văn phòng Chính phủ")
        seed(s, p, c, g, sender)
        return {"P": p.id, "C": c.id, "G": g.id, "S": sender.id}


@pytest.fixture(params=DATABASES)
def history(request, tmp_path):  # type: ignore[no-untyped-def]
    with provision(request.param, tmp_path) as backend:
        settings = _settings(tmp_path, backend.database)
        ids = seed_agencies_and_history(settings.database_url)
        yield settings, ids


def test_figures_per_agency_and_month_in_vietnam_time_rolled_up_to_the_parent(history):
    settings, ids = history
    names = {v: k for k, v in ids.items()}
    with session_scope(settings.database_url) as s:
        report = adoption(s, parse_period("2026-01", "2026-02"), agency_tree(s, [ids["P"]]))
    assert [a.code for a in report.agencies] == [P, C, G], "tree order, the sender is outside P's tree"
    got = {(names[r.agency.id], r.month, r.rolled_up): r.figures for r in report.rows}
    assert got == EXPECTED
    assert len(report.rows) == 10  # per month: P, P with C and G, C, C with G, G
    assert report.total == EXPECTED[("P", "2026-01", True)] + EXPECTED[("P", "2026-02", True)]
    # one day, near midnight: 1 February in +07:00 starts at 17:00 UTC on 31 January
    with session_scope(settings.database_url) as s:
        first_of_february = adoption(s, parse_period("2026-02-01", "2026-02-01"), agency_tree(s, [ids["P"]]))
    p_alone = first_of_february.figures(first_of_february.agencies[0], "2026-02")
    assert (p_alone.issued, p_alone.received, p_alone.registered_same_day) == (1, 1, 1)


@pytest.mark.embedded_only
def test_exports_read_back_and_the_command_line(tmp_path):
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'docsign.sqlite'}")
    ids = seed_agencies_and_history(settings.database_url)
    with session_scope(settings.database_url) as s:
        report = adoption(s, parse_period("2026-01", "2026-02"), agency_tree(s, [ids["P"]]))
    header = [c.vi for c in export.COLUMNS]
    rollup_feb = ["2026-02", P, "Ủy ban nhân dân tỉnh Hòa Bình", "", "Gồm đơn vị trực thuộc", 2, 1, 3, 2, 3,
                  f"(không ghi lý do) (1); {SEAL_REASON} (1); thiếu phụ lục (1)", 3, 1, 1]
    g_jan = ["2026-01", G, "Phòng Nội vụ huyện Lạc Sơn", C, "Đơn vị", 0, 0, 1, 0, 0, "", 0, 0, 2]

    rows = list(csv.reader(io.StringIO(export.render(report, "csv").decode("utf-8-sig"))))
    assert rows[0] == header and len(rows) == 11
    assert [str(v) for v in rollup_feb] in rows and [str(v) for v in g_jan] in rows

    sheet = load_workbook(io.BytesIO(export.render(report, "xlsx"))).active
    values = [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "BÁO CÁO MỨC ĐỘ SỬ DỤNG VĂN BẢN ĐIỆN TỬ"
    assert values[1][0] == "Từ ngày 01/01/2026 đến ngày 28/02/2026"
    assert values[2] == header and len(values) == 13
    assert rollup_feb in values and g_jan in values, "counts are numbers in the sheet"

    env = {"PATH": "/usr/bin:/bin", "DOCSIGN_DATA_DIR": str(settings.data_dir),
           "DOCSIGN_KEYS_DIR": str(settings.keys_dir), "DOCSIGN_DATABASE_URL": settings.database_url}
    out = tmp_path / "adoption.xlsx"
    done = run_cli("report", "adoption", "--from", "2026-01", "--to", "2026-02", "--agency", P, "--format", "xlsx",
                   "--output", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert [[c if c is not None else "" for c in r] for r in load_workbook(out).active.iter_rows(values_only=True)] \
        == values
    # in-process for the outputs to standard output; the refusal goes through the real entry point
    runner = CliRunner()
    printed = runner.invoke(cli, ["report", "adoption", "--from", "2026-01", "--to", "2026-02"], env=env)
    assert printed.exit_code == 0 and "Văn phòng Chính phủ" in printed.output, "without --agency: every agency"
    csv_out = runner.invoke(cli, ["report", "adoption", "--from", "2026-01", "--to", "2026-02", "--agency", C,
                                  "--format", "csv"], env=env)
    assert list(csv.reader(io.StringIO(csv_out.output.lstrip("\ufeff"))))[1:] == \
        [row for row in rows[1:] if row[1] in (C, G)]
    target = tmp_path / "refused.csv"
    done = run_cli("report", "adoption", "--from", "2026-03", "--to", "2026-01", "--format", "csv", "--output",
                   str(target), env=env)
    assert done.returncode == EX_DATAERR and "reversed" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == "" and not target.exists()


def test_periods():
    assert parse_period("2026-02", "2026-02") == parse_period("2026-02-01", "2026-02-28")
    assert parse_period("2024-02-29", "2034-02-28").months[-1] == "2034-02", "ten years to the day are allowed"
    for start, end, says in (("2026-03-01", "2026-02-28", "reversed"), ("2016-01", "2026-01", "longer than 10"),
                             ("2026-02-30", "2026-03", "is not a month"), ("", "2026-03", "needs its start"),
                             ("2026-1", "2026-03", "is not a month")):
        with pytest.raises(InvalidPeriod, match=says) as caught:
            parse_period(start, end)
        assert (caught.value.http_status, caught.value.exit_code) == (400, EX_DATAERR)
    assert Figures(rejected=1, reasons=(("a", 1),)) + Figures(rejected=2, reasons=(("b", 2), ("a", 1))) == \
        Figures(rejected=3, reasons=(("a", 2), ("b", 2)))
