"""Evidence that lasts: a received (or issued) document is extended to B-LT after its receipt (or issue),
renewed with a document timestamp (B-LTA) before its TSA certificate runs out, and still validates after that
certificate expired; a TSA that is down is retried, counted and shown, never skipped in silence.

The demo PKI is served over HTTP (CRL, OCSP, TSA) as `docsign run` serves it; its TSA certificate is
replaced by a short-lived one (20 days) so that the renewal margin is reached without waiting."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from docsign import migrations
from docsign.config import load_settings, prepare_data_dir
from docsign.db import session_scope
from docsign.demo import seed_demo
from docsign.exchange import edxml
from docsign.exchange import service as exchange_service
from docsign.exchange.verdicts import pdf_attachment
from docsign.ltv import service as ltv
from docsign.models import Delivery, Document, LtvRecord, OutboxMessage
from docsign.pki.authority import Profile, name
from docsign.pki.demo import load_demo_pki
from docsign.signing.request import Level, SignRequest
from docsign.signing.service import sign_pdf
from docsign.storage import BlobStore
from tests.conftest import run_cli
from tests.support.documents import load_registered_key
from tests.support.exchange_rig import wait_until
from tests.support.pki_server import free_port, serve_pki
from tests.unit.signing.pdfgen import make_pdf

pytestmark = pytest.mark.embedded_only
TINH, LACSON = "000.00.00.H30", "000.00.35.H30"
TSA1_DAYS, MARGIN_DAYS = 20, 10


def _rotate_tsa(store, days: int):  # type: ignore[no-untyped-def]
    """The TSA gets a new certificate (and key) valid for ``days`` from an hour ago."""
    tsa = store.add_service("tsa", name("docsign DEMO Time-Stamping Authority", "docsign DEMO"), "root", Profile.TSA,
                            validity=dt.timedelta(days=days))
    store.save()
    return tsa.cert.not_valid_after_utc


@pytest.fixture
def world(tmp_path, backend) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
           "DOCSIGN_DATABASE_URL": backend.database, "DOCSIGN_BROKER_URL": backend.broker,
           "DOCSIGN_PUBLIC_URL": f"http://127.0.0.1:{port}", "DOCSIGN_LTV_RENEW_DAYS_BEFORE": str(MARGIN_DAYS)}
    settings = load_settings(env)
    prepare_data_dir(settings)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        seed_demo(session, settings)
    store = load_demo_pki(settings)
    with serve_pki(store, port):
        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}, **env}
        yield SimpleNamespace(settings=settings, store=store, env=cli_env)


def _receive(settings, tmp: Path, level: Level, number: str) -> int:  # type: ignore[no-untyped-def]
    """A document sealed by the province at ``level``, sent to Lạc Sơn and received there; its inbox id."""
    draft = make_pdf(tmp / f"draft-{number}.pdf", 1, notation="UBND-VP")
    sealed = tmp / f"sealed-{number}.pdf"
    sign_pdf(draft, sealed, load_registered_key(settings, f"agency:{TINH}"),
             SignRequest(level=level, tsa_url=settings.tsa_url if level is not Level.B_B else None))
    request = exchange_service.SendRequest(sender_code=TINH, recipient_codes=(LACSON,), subject=f"Văn bản {number}",
                                           code_notation="UBND-VP")
    with session_scope(settings.database_url) as s:
        delivery_id = exchange_service.send(s, settings, request, sealed.read_bytes(), actor="test").deliveries[0].id
    with session_scope(settings.database_url) as s:
        exchange_service.receive(s, settings, delivery_id)
    with session_scope(settings.database_url) as s:
        return s.scalar(select(Document.id).where(Document.received_via_delivery_id == delivery_id))


def _revisions(settings, document_id: int) -> list[tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    store = BlobStore(settings.blob_dir)
    with session_scope(settings.database_url) as s:
        return [(r.action, store.read_bytes(r.sha256)) for r in s.get(Document, document_id).revisions]


def _maintain(settings, document_id: int, now: dt.datetime):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return ltv.maintain(s, settings, document_id, now=now)


def _last_timestamp_holds(settings, data: bytes, at: dt.datetime) -> bool:  # type: ignore[no-untyped-def]
    """pyHanko validates the document's last document timestamp as of ``at`` (nothing fetched online): intact,
    trusted, and covering its whole revision: the seal, the seal's timestamp and the validation data (after it
    comes only the DSS update with the timestamp's own validation data)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_timestamp
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    from docsign.pki.trust import build_validation_context, trust_roots

    timestamps = PdfFileReader(io.BytesIO(data), strict=False).embedded_timestamp_signatures
    if not timestamps:
        return False
    status = validate_pdf_timestamp(timestamps[-1], validation_context=build_validation_context(
        trust_roots(settings), moment=at, offline=True))
    return bool(status.intact and status.valid and status.trusted
                and status.coverage >= SignatureCoverageLevel.ENTIRE_REVISION)


def test_a_received_document_is_extended_then_renewed_before_its_tsa_certificate_expires(world, tmp_path):
    settings, store = world.settings, world.store
    t0 = dt.datetime.now(dt.UTC)
    tsa1_end = _rotate_tsa(store, TSA1_DAYS)  # the TSA's certificate runs out in 20 days
    document_id = _receive(settings, tmp_path, Level.B_T, "41")

    # T0: the receipt queued the extension in its own transaction (the outbox), nothing extended yet
    with session_scope(settings.database_url) as s:
        record = s.scalar(select(LtvRecord).where(LtvRecord.document_id == document_id))
        assert record.state == "pending" and record.evidence_until is None
        assert s.scalar(select(OutboxMessage).where(OutboxMessage.task_name == ltv.MAINTAIN_TASK)).payload == \
            {"document_id": document_id}
    # T0: the worker's task extends it to B-LT; a second run (a redelivered message) changes nothing
    outcome = _maintain(settings, document_id, t0)
    assert (outcome.action, outcome.evidence.level) == ("extended", "B-LT")
    assert outcome.evidence.until == tsa1_end  # the signature timestamp's TSA certificate sets the date
    assert _maintain(settings, document_id, t0).action == "not due"
    revisions = _revisions(settings, document_id)
    assert [a for a, _ in revisions] == ["receive", "ltv"]
    with session_scope(settings.database_url) as s:
        delivery = s.get(Delivery, s.get(Document, document_id).received_via_delivery_id)
        packet_pdf = pdf_attachment(edxml.parse_document_packet(
            BlobStore(settings.blob_dir).read_bytes(delivery.exchange.packet_sha256)))
    assert revisions[0][1] == packet_pdf  # the bytes as received stay retrievable, unchanged
    received, extended = revisions[0][1], revisions[1][1]
    assert extended.startswith(received)  # an incremental update: the seal's bytes are untouched
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(extended), strict=False))
    assert dss.vri_entries and dss.ocsps  # a VRI entry for the seal, and the OCSP answers proving it good
    from docsign.verification import verify

    report = verify(extended, settings, bounded=False)
    assert report.indication == "TOTAL_PASSED" and report.signatures[0].level == "PAdES-B-LT", report

    # the recipient's system fetches the bytes as received (those its signed receipt names) or as kept
    from docsign.accounts import create_token
    from docsign.web.app import create_app

    with session_scope(settings.database_url) as s:
        token = create_token(s, LACSON, "dms")[1]
        delivery_id = s.get(Document, document_id).received_via_delivery_id
    client = create_app(settings).test_client()
    for version, expected in ((None, received), ("received", received), ("kept", extended)):
        answer = client.get(f"/api/v1/deliveries/{delivery_id}/document" + (f"?version={version}" if version else ""),
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.data == expected, version
    refused = client.get(f"/api/v1/deliveries/{delivery_id}/document?version=latest",
                         headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 400 and "'received' or 'kept'" in refused.get_data(as_text=True)

    # `docsign ltv status` lists the date the evidence holds until, in +07:00
    listed = run_cli("ltv", "status", env=world.env)
    assert listed.returncode == 0, listed.stderr
    shown = tsa1_end.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%Y-%m-%d %H:%M +07:00")
    row = rf"{document_id}\s+{re.escape(LACSON)}\s+B-LT\s+{re.escape(shown)}\s+ok\b"
    assert re.search(row, listed.stdout), listed.stdout

    # T0+5 d: not due (the margin is 10 days before the TSA certificate's end)
    assert _maintain(settings, document_id, t0 + dt.timedelta(days=5)).action == "not due"
    # T0+11 d: due, but the TSA still signs with the certificate that ends then: refused and reported
    with pytest.raises(ltv.EvidenceNotRenewable, match="renew the TSA's certificate"):
        _maintain(settings, document_id, t0 + dt.timedelta(days=11))
    # the TSA's certificate is renewed (5 years); T0+11 d: the evidence is renewed with a document timestamp
    tsa2_end = _rotate_tsa(store, 5 * 365)
    outcome = _maintain(settings, document_id, t0 + dt.timedelta(days=11))
    assert (outcome.action, outcome.evidence.level) == ("renewed", "B-LTA")
    # now the TSA's RSA-2048 key sets the date: NIST SP 800-131A accepts it through 2030, before tsa2_end
    assert outcome.evidence.until == min(tsa2_end, ltv.RSA_112_BIT_END)
    assert "RSA-2048" in outcome.evidence.limited_by
    assert [a for a, _ in _revisions(settings, document_id)] == ["receive", "ltv", "lta"]
    renewed = _revisions(settings, document_id)[2][1]
    assert renewed.startswith(extended)
    report = verify(renewed, settings, bounded=False)
    assert report.indication == "TOTAL_PASSED" and report.signatures[0].level == "PAdES-B-LTA", report

    # T0+25 d, after the first TSA certificate expired: the renewed document's last timestamp still holds
    # (pyHanko, validation time T0+25 d); the document only extended to B-LT has no evidence left then
    after_expiry = tsa1_end + dt.timedelta(days=5)
    assert _last_timestamp_holds(settings, renewed, after_expiry)
    assert ltv.evidence_until(extended).until < after_expiry < ltv.evidence_until(renewed).until
    assert not _last_timestamp_holds(settings, renewed, tsa2_end + dt.timedelta(days=1))

    # nothing is due any more, and the beat job queues nothing
    with session_scope(settings.database_url) as s:
        assert ltv.due_count(s, settings) == 0 and ltv.schedule_due(s, settings) == 0


def test_a_document_issued_here_is_kept_and_sent_extended(world, tmp_path):
    """The issue tracks the document in its own transaction; the extension becomes the current revision (the
    one a send carries, its printed number still the register's) while the issued bytes stay retrievable."""
    from docsign.documents import register
    from docsign.documents import service as ds
    from docsign.models import User
    from docsign.verification import verify

    settings = world.settings

    def actor(login: str) -> ds.Actor:
        with session_scope(settings.database_url) as s:
            u = s.scalar(select(User).where(User.login == login))
            return ds.Actor(u.id, u.login, u.full_name, u.role.value, u.agency_id, u.agency.code, u.position)

    clerk, leader = actor("tinh.vanthu"), actor("tinh.lanhdao")
    with session_scope(settings.database_url) as s:
        document_id = ds.upload_document(s, settings, clerk, io.BytesIO(make_pdf(tmp_path / "d.pdf").read_bytes()),
                                         title="Văn bản phát hành", notation="UBND-VP").id
    with session_scope(settings.database_url) as s:
        ds.approve_document(s, settings, leader, document_id, level="B-B")
    with session_scope(settings.database_url) as s:
        ds.issue_document(s, settings, clerk, document_id, notation="UBND-VP", level="B-T")
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(LtvRecord.state).where(LtvRecord.document_id == document_id)) == "pending"
        assert [r.document_id for r in ltv.status(s, settings)] == [document_id]
        code_number = s.get(Document, document_id).code_number
    outcome = _maintain(settings, document_id, dt.datetime.now(dt.UTC))
    assert (outcome.action, outcome.evidence.level) == ("extended", "B-LT")
    revisions = _revisions(settings, document_id)
    assert [a for a, _ in revisions] == ["upload", "approve", "issue", "ltv"]
    issued, extended = revisions[2][1], revisions[3][1]
    assert extended.startswith(issued)
    report = verify(extended, settings, bounded=False)
    assert report.indication == "TOTAL_PASSED" and report.signatures[-1].level == "PAdES-B-LT", report
    assert str(register.printed_number(extended).number).zfill(2) == code_number  # type: ignore[union-attr]
    with session_scope(settings.database_url) as s:
        exchange = ds.send_document(s, settings, clerk, document_id, [LACSON])
        assert exchange.revision.action == "ltv"  # the register's number agreed with the extended bytes


def test_a_tsa_that_is_down_is_retried_counted_and_shown(world, tmp_path, monkeypatch):
    """A document with no timestamp needs one on receipt; the TSA does not answer: a real worker retries with
    backoff, each failed attempt counts in /metrics, and `ltv status` shows the document failed, with why."""
    from docsign import metrics
    from workers.app import create_celery
    from workers.relay import relay_once

    settings = world.settings
    document_id = _receive(settings, tmp_path, Level.B_B, "42")
    closed = f"http://127.0.0.1:{free_port()}/pki/tsa"
    env = {**world.env, "DOCSIGN_TSA_URL": closed, "DOCSIGN_DELIVERY_ATTEMPTS": "2"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "docsign", "worker", "--all", "--beat", "--concurrency", "1"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert relay_once(settings, create_celery(settings)) >= 1

        def state() -> str:
            with session_scope(settings.database_url) as s:
                return s.scalar(select(LtvRecord.state).where(LtvRecord.document_id == document_id))

        wait_until(lambda: state() == "failed", 90, "the extension given up after its attempts", interval=0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    listed = run_cli("ltv", "status", env=env)
    assert re.search(rf"{document_id}\s+{re.escape(LACSON)}\s+—\s+—\s+failed", listed.stdout), listed.stdout
    assert f"last attempt failed (2×): the timestamp authority {closed} did not answer" in listed.stdout
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(settings.data_dir / "metrics"))
    scraped = metrics.render(settings.database_url, settings).decode()
    assert 'docsign_ltv_renewals_total{outcome="failed"} 2.0' in scraped, scraped
    assert 'docsign_task_retries_total{task="docsign.ltv.maintain"} 1.0' in scraped
    assert "docsign_ltv_renewals_due 1.0" in scraped  # a failed one is due again at the next check
    # the next check queues it again: nothing is left behind
    with session_scope(settings.database_url) as s:
        assert ltv.schedule_due(s, settings) == 1
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(LtvRecord.state).where(LtvRecord.document_id == document_id)) == "pending"


def test_bad_input_is_refused_with_one_line(world):
    for args, code, message in [
        (("ltv", "renew", "--before", "-3"), 65, "error: --before must be a number of days, 0 or more, not -3"),
        (("ltv", "renew", "--document", "999"), 66, "error: document 999 does not exist"),
    ]:
        result = run_cli(*args, env=world.env)
        assert (result.returncode, result.stderr.strip()) == (code, message), result
        assert result.stdout == ""
    result = run_cli("ltv", "renew", env=world.env)
    assert result.returncode == 0 and result.stdout.strip() == f"nothing due within {MARGIN_DAYS} days"
