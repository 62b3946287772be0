"""One verification on receipt serves the other recipients of the same bytes in this install, for
RECEIPT_VERDICT_SECONDS: another worker process uses the kept report instead of verifying again; other
bytes, another trust configuration or an older report are verified afresh."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from docsign.db import session_scope
from docsign.exchange import service as svc
from docsign.exchange.verdicts import _PacketVerdicts, _ReceiptVerdicts
from docsign.verification.report import report_to_record
from tests.support.documents import sealed_pdf

ROOT = Path(__file__).resolve().parents[3]
PROVINCE, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30"

_OTHER_PROCESS = """
import json, sys
from docsign.config import load_settings
from docsign.exchange.verdicts import RECEIPT_VERDICTS
from docsign.verification.report import report_to_record
report = RECEIPT_VERDICTS.verify(load_settings(), open(sys.argv[1], "rb").read())
print(json.dumps({"shared": RECEIPT_VERDICTS.shared, "misses": RECEIPT_VERDICTS.misses,
                  "report": report_to_record(report)}))
"""


def _other_process(settings, pdf_path: Path) -> dict:  # type: ignore[no-untyped-def, type-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({"DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
                "DOCSIGN_DATABASE_URL": settings.database_url, "DOCSIGN_BROKER_URL": settings.broker_url,
                "DOCSIGN_PUBLIC_URL": settings.public_url})
    done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(pdf_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_report_on_receipt_serves_another_worker_process_for_a_few_seconds(demo_online, tmp_path):
    path = sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", seal_only=True)
    pdf = path.read_bytes()
    here = _ReceiptVerdicts()
    report = here.verify(demo_online, pdf)
    assert (here.misses, here.shared) == (1, 0)
    assert report.indication.value == "TOTAL_PASSED"

    there = _other_process(demo_online, path)  # another worker, within the window: no verification there
    assert (there["shared"], there["misses"]) == (1, 0)
    assert there["report"] == report_to_record(report)

    other = sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", number="02", seal_only=True).read_bytes()
    fresh = _ReceiptVerdicts()
    fresh.verify(demo_online, other)  # other bytes: verified
    assert (fresh.misses, fresh.shared) == (1, 0)
    # Another trust configuration (here: where verification may fetch from) never shares a report.
    fresh.verify(dataclasses.replace(demo_online, fetch_allow_hosts=(("crl.example.vn", 80),)), pdf)
    assert (fresh.misses, fresh.shared) == (2, 0)
    fresh.verify(demo_online, pdf)
    assert (fresh.misses, fresh.shared) == (2, 1)


def test_a_report_older_than_the_window_is_not_used(demo_online, tmp_path):
    pdf = sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
    _ReceiptVerdicts(ttl_seconds=0.5).verify(demo_online, pdf)
    time.sleep(0.6)
    later = _ReceiptVerdicts(ttl_seconds=0.5)
    later.verify(demo_online, pdf)
    assert (later.misses, later.shared) == (1, 0)


def test_a_packets_xml_signature_is_checked_once_for_its_recipients(demo_online, tmp_path):
    """The recipients of one exchange read the same packet: the first checks its XML signature, the others
    (other worker processes: other instances over the one data dir) use what it kept. A signature that does
    not verify is never kept, and another trust configuration checks again."""
    pdf = sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
    request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON, TAN_LAC), subject="Packet check")
    with session_scope(demo_online.database_url) as session:
        packet = svc.read_packet(demo_online, svc.send(session, demo_online, request, pdf, actor="test"))
    first, second = _PacketVerdicts(), _PacketVerdicts()
    signature = first.verify(demo_online, packet)
    assert signature.valid and (first.checked, first.shared) == (1, 0), signature.problems
    kept = second.verify(demo_online, packet)
    assert (second.checked, second.shared) == (0, 1)
    assert kept.valid and kept.present and not kept.problems and kept.signer == signature.signer
    assert kept.certificate is not None and signature.certificate is not None
    assert kept.certificate.dump() == signature.certificate.dump()

    tampered = packet.replace(b"Packet check", b"Packet cheek")
    assert tampered != packet
    for _ in range(2):
        broken = second.verify(demo_online, tampered)
        assert not broken.valid and "changed after it was signed" in "; ".join(broken.problems)
    assert (second.checked, second.shared) == (2, 1)
    second.verify(dataclasses.replace(demo_online, fetch_allow_hosts=(("crl.example.vn", 80),)), packet)
    assert (second.checked, second.shared) == (3, 1)
