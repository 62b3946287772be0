"""Issue 9.3: the agencies' own paths verify under the same time and memory bounds as the public page.

The attack: a document whose verification does not end (here: its certificates send the verifier to a
host that accepts connections and never answers, a host the admin allowed) given to the agency API's
send, to an edXML import, and arriving at a worker. Before, each verified it in the calling process
without bounds (one crafted PDF held a web process for 121 s). Now each goes through
:func:`docsign.verification.verify` in a sandbox worker that is killed at DOCSIGN_VERIFY_TIMEOUT, and
the caller gets a clear 4xx-class error, with nothing written.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from sqlalchemy import func, select

from docsign.config import load_settings
from docsign.exchange import edxml, service
from docsign.models import Exchange
from docsign.verification.errors import VerificationLimitExceeded
from tests.security.test_ssrf import hostile  # noqa: F401 - the fixture
from tests.support.listener import listening
from tests.unit.exchange.factories import sample_packet

pytestmark = pytest.mark.embedded_only
TIMEOUT = 2


def _tarpit_settings(base, target: int):  # type: ignore[no-untyped-def]
    """``base`` with a verification timeout of 2 s and the never-answering host allowed."""
    env = {"DOCSIGN_DATA_DIR": str(base.data_dir), "DOCSIGN_KEYS_DIR": str(base.keys_dir),
           "DOCSIGN_DATABASE_URL": base.database_url, "DOCSIGN_BROKER_URL": base.broker_url,
           "DOCSIGN_VERIFY_TIMEOUT": str(TIMEOUT), "DOCSIGN_FETCH_ALLOW_HOSTS": f"127.0.0.1:{target}",
           "DOCSIGN_FETCH_MAX_SECONDS": "60"}
    return load_settings(env)


@pytest.fixture
def tarpit_settings(settings, hostile):  # type: ignore[no-untyped-def]  # noqa: F811
    with listening(port=hostile[1], hang=True) as tarpit:
        yield _tarpit_settings(settings, hostile[1]), tarpit


def _exchanges(session) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(Exchange)) or 0


def _bounded(call) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with pytest.raises(VerificationLimitExceeded, match=f"longer than {TIMEOUT} seconds"):
        call()
    return time.monotonic() - started


def test_send_and_edxml_import_are_bounded(demo, session, hostile):  # type: ignore[no-untyped-def]  # noqa: F811
    pdf, target = hostile
    settings = _tarpit_settings(demo, target)
    request = service.SendRequest(sender_code="000.00.00.H30", recipient_codes=("000.00.16.H30",), subject="Thử")
    packet = sample_packet(to=(edxml.Organization("000.00.16.H30", "Sở Thông tin và Truyền thông", "UBND"),))
    packet = dataclasses.replace(packet, attachments=(edxml.Attachment.new("vb.pdf", pdf),))
    before = _exchanges(session)
    with listening(port=target, hang=True) as tarpit:
        took = _bounded(lambda: service.send(session, settings, request, pdf, actor="test"))
        assert took < TIMEOUT + 20 and tarpit.connections >= 1
        took = _bounded(lambda: service.import_packet(session, settings, edxml.build_document_packet(packet),
                                                      actor="test"))
        assert took < TIMEOUT + 20
    assert _exchanges(session) == before


def test_verification_on_receipt_is_bounded(tarpit_settings, hostile):  # type: ignore[no-untyped-def]  # noqa: F811
    settings, _ = tarpit_settings
    took = _bounded(lambda: service.RECEIPT_VERDICTS.verify(settings, hostile[0]))
    assert took < TIMEOUT + 20


def test_a_celery_prefork_child_can_use_the_sandbox(tarpit_settings, hostile, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    """Workers verify in billiard's daemonic pool processes, which multiprocessing would not let start one:
    a fresh interpreter (as `docsign worker`) forks a billiard child that verifies on receipt."""
    import subprocess
    import sys
    from pathlib import Path

    settings, _ = tarpit_settings
    (tmp_path / "doc.pdf").write_bytes(hostile[0])
    script = f"""
import billiard
from docsign.config import load_settings

def receive(results):
    from docsign.exchange import service
    try:
        service.RECEIPT_VERDICTS.verify(load_settings(), open({str(tmp_path / "doc.pdf")!r}, "rb").read())
        results.put("verified without bound")
    except Exception as exc:
        results.put(type(exc).__name__)

if __name__ == "__main__":
    results = billiard.Queue()
    child = billiard.Process(target=receive, args=(results,), daemon=True)
    child.start()
    print(results.get(timeout=60))
    child.join(timeout=10)
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
           "DOCSIGN_VERIFY_TIMEOUT": str(TIMEOUT), "DOCSIGN_FETCH_MAX_SECONDS": "60",
           "DOCSIGN_FETCH_ALLOW_HOSTS": f"127.0.0.1:{hostile[1]}"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "VerificationLimitExceeded", result.stderr[-2000:]
