"""`docsign exchange` from a shell: send, show, export, import between two docsign installations."""

from __future__ import annotations

import json

import pytest

from docsign.exchange import edxml
from tests.conftest import run_cli
from tests.support.documents import sealed_pdf

pytestmark = pytest.mark.embedded_only
PROVINCE, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30"


def _env(settings):  # type: ignore[no-untyped-def]
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({"DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
                "DOCSIGN_DATABASE_URL": settings.database_url, "DOCSIGN_BROKER_URL": settings.broker_url,
                "DOCSIGN_PUBLIC_URL": settings.public_url})
    return env


def test_send_show_export_and_import_into_another_installation(demo_online, tmp_path):
    env = _env(demo_online)
    pdf = sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", number="12", seal_only=True)
    sent = run_cli("exchange", "send", "--from", PROVINCE, "--to", f"{LAC_SON},{TAN_LAC}", "--subject",
                   "Về việc thử nghiệm", "--number", "12", "--notation", "UBND-VP", "--due-date", "2030-02-01",
                   "--steering-type", "3", "--to-place", "Như trên;", "--to-place", "Lưu: VT.", "--content",
                   "Báo cáo kết quả", str(pdf), env=env)
    assert sent.returncode == 0, sent.stderr
    exchange_id = sent.stdout.strip()
    shown = json.loads(run_cli("exchange", "show", exchange_id, "--json", env=env).stdout)
    assert [d["state"] for d in shown["deliveries"]] == ["queued", "queued"]
    assert shown["document_id"].endswith(",12/UBND-VP")
    exported = run_cli("exchange", "export", exchange_id, env=env)
    assert exported.returncode == 0
    packet = exported.stdout.encode()
    read = edxml.parse_document_packet(packet)
    assert read.attachments[0].data == pdf.read_bytes()
    header = read.message_header
    assert (str(header.due_date), header.steering_type, header.to_places, header.content) == (
        "2030-02-01", 3, ("Như trên;", "Lưu: VT."), "Báo cáo kết quả")

    # The same DocumentId cannot come in twice as a new document.
    (tmp_path / "a.edxml").write_bytes(packet)
    again = run_cli("exchange", "import", str(tmp_path / "a.edxml"), env=env)
    assert again.returncode == 65 and "already sent as a new document" in again.stderr

    # A second installation (another province's system) with its own demo PKI: it must trust ours first.
    other = tmp_path / "other"
    other_env = {**env, "DOCSIGN_DATA_DIR": str(other / "var"), "DOCSIGN_KEYS_DIR": str(other / "keys"),
                 "DOCSIGN_DATABASE_URL": f"sqlite:///{other / 'docsign.sqlite'}",
                 "DOCSIGN_BROKER_URL": f"sqla+sqlite:///{other / 'broker.sqlite'}"}
    assert run_cli("init", "--demo", env=other_env).returncode == 0
    untrusted = run_cli("exchange", "import", str(tmp_path / "a.edxml"), env=other_env)
    assert untrusted.returncode == 65 and "NO_CERTIFICATE_CHAIN_FOUND" in untrusted.stderr
    assert run_cli("pki", "trust", "add", str(demo_online.keys_dir / "demo" / "root.crt"),
                   env=other_env).returncode == 0
    imported = run_cli("exchange", "import", str(tmp_path / "a.edxml"), env=other_env)
    assert imported.returncode == 0, imported.stderr
    re_exported = run_cli("exchange", "export", imported.stdout.strip(), env=other_env).stdout.encode()
    assert re_exported == packet  # byte for byte, signed PDF included
