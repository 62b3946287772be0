"""`docsign exchange inspect`: what a packet from another system says, without importing it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from docsign.exchange import edxml
from tests.conftest import run_cli

SAMPLES = Path(__file__).parents[1] / "data" / "edxml"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env["DOCSIGN_DATA_DIR"] = str(tmp_path / "var")  # no database is touched
    return env


def test_inspect_document_status_and_broken_packets(tmp_path: Path):
    env = _env(tmp_path)
    # A document packet of the VPCP SDK's gateway: UUID DocumentId, the axis's test units, two zip attachments.
    upload = SAMPLES / "vpcp_upload_b6e1f29d.edxml"
    shown = run_cli("exchange", "inspect", "--json", str(upload), env=env)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    packet = edxml.parse_document_packet(upload.read_bytes())
    assert report["kind"] == "document"
    assert report["from"]["organ_id"] == "vxp.saas.03" and [o["organ_id"] for o in report["to"]] == ["vxp.saas.03"]
    assert report["document_id"] == "b6e1f29d-cdc9-4fa7-8391-442e8566f14e"
    assert (report["number"], report["notation"]) == ("20251016112435", "GW-AUTO")
    assert report["subject"] == "Tiêu đề thử" and report["promulgation_date"] == "2025-10-16"
    assert report["business_type"] == 0
    assert report["attachments"] == [
        {"name": a.attachment_name, "content_type": "application/zip", "size": len(a.data),
         "sha256": hashlib.sha256(a.data).hexdigest()} for a in packet.attachments]
    assert len(report["attachments"]) == 2
    assert report["signature"] == {"present": False, "valid": None, "detail": "absent"}

    # A revocation carrying an XML signature, checked by docsign.exchange.xmlsig: not valid as XML-DSig.
    revocation = json.loads(run_cli("exchange", "inspect", "--json", str(SAMPLES / "vpcp_edoc_revocation_small.edxml"),
                                    env=env).stdout)
    assert revocation["business_type"] == 1
    assert revocation["related_document_ids"] == [revocation["document_id"]]
    assert revocation["signature"]["present"] is True and revocation["signature"]["valid"] is False
    assert "not XML-DSig" in revocation["signature"]["detail"]  # the XML-DSig shape under edXML's namespace

    # A status packet in the VNPT library's MessageHeader form, in words.
    status = run_cli("exchange", "inspect", str(SAMPLES / "vpcp_status_rejection_02.edxml"), env=env)
    assert status.returncode == 0, status.stderr
    assert "status packet from 000.00.00.H41" in status.stdout
    assert "status 02 (Từ chối tiếp nhận / Rejected)" in status.stdout and "[MessageHeader form]" in status.stdout
    status_json = json.loads(run_cli("exchange", "inspect", "--json", str(SAMPLES / "vpcp_status.edxml"),
                                     env=env).stdout)
    assert (status_json["kind"], status_json["status_code"]) == ("status", "01")
    assert status_json["staff"] == "Nguyễn Thị Ngọc Trâm"
    assert status_json["document_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"

    # Broken: exit 65 with the field path; not XML at all: 65 too.
    broken = tmp_path / "broken.edxml"
    broken.write_bytes((SAMPLES / "vpcp_status_inbox_01.edxml").read_bytes()
                       .replace(b"<edXML:StatusCode>01<", b"<edXML:StatusCode>42<"))
    refused = run_cli("exchange", "inspect", str(broken), env=env)
    assert refused.returncode == 65
    assert "MessageHeader/StatusCode" in refused.stderr and "42" in refused.stderr
    not_xml = run_cli("exchange", "inspect", str(SAMPLES / "vpcp_edoc_undeclared_prefix.edxml"), env=env)
    assert not_xml.returncode == 65 and "not well-formed" in not_xml.stderr
    assert run_cli("exchange", "inspect", str(tmp_path / "missing.edxml"), env=env).returncode != 0
