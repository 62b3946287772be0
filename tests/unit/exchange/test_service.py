"""The exchange flow's domain functions on every backend, with the demo PKI served over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from docsign.db import session_scope
from docsign.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from docsign.exchange import edxml, packet_seals
from docsign.exchange import service as svc
from docsign.exchange.errors import InvalidTransition
from docsign.ltv import service as ltv
from docsign.models import (
    Agency,
    AuditEvent,
    Delivery,
    Document,
    DocumentOrigin,
    Exchange,
    OutboxMessage,
    StatusEvent,
    utcnow,
)
from docsign.storage import BlobStore
from tests.support.documents import sealed_pdf

pytestmark = pytest.mark.backend
PROVINCE, DEPT, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.16.H30", "000.00.35.H30", "000.00.36.H30"


@pytest.fixture
def sealed(demo_online, tmp_path):  # type: ignore[no-untyped-def]
    return sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", number="05", seal_only=True).read_bytes()


def _send(settings, pdf, to=(LAC_SON, TAN_LAC), **kw):  # type: ignore[no-untyped-def]
    request = svc.SendRequest(sender_code=kw.pop("sender", PROVINCE), recipient_codes=tuple(to),
                              subject="Về việc thử nghiệm trao đổi văn bản", **kw)
    with session_scope(settings.database_url) as s:
        return svc.send(s, settings, request, pdf, actor="test").id


def _counts(settings):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in
                     (Exchange, Delivery, OutboxMessage, Document, StatusEvent))


def test_send_writes_everything_in_one_transaction(demo_online, sealed):
    exchange_id = _send(demo_online, sealed)
    with session_scope(demo_online.database_url) as s:
        exchange = s.get(Exchange, exchange_id)
        assert [d.recipient.code for d in exchange.deliveries] == [LAC_SON, TAN_LAC]
        assert all(d.state == "queued" and len(d.events) == 1 for d in exchange.deliveries)
        outbox = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(o.task_name, o.queue) for o in outbox] == [
            (svc.DELIVER_TASK, f"agency.{LAC_SON}"), (svc.DELIVER_TASK, f"agency.{TAN_LAC}")]
        assert exchange.edxml_document_id == f"{PROVINCE},{dt.datetime.now(svc.VN_TZ):%Y/%m/%d},01/VP"
        packet = edxml.parse_document_packet(svc.read_packet(demo_online, exchange))
        assert packet.attachments[0].data == sealed
        assert {o.organ_id for o in packet.message_header.to} == {LAC_SON, TAN_LAC}
        assert s.scalar(select(func.count()).where(AuditEvent.action == "exchange.send")) == 1


@pytest.mark.parametrize(("to", "sender", "message"), [
    ((LAC_SON, "000.00.99.H30"), PROVINCE, "no agency with code 000.00.99.H30"),
    (("H30",), PROVINCE, "no agency with code H30"),
    ((PROVINCE,), PROVINCE, "cannot send a document to itself"),
    ((LAC_SON, LAC_SON), PROVINCE, "named twice"),
    ((), PROVINCE, "at least one recipient"),
    ((TAN_LAC,), LAC_SON, "no signature belongs to the sending agency"),
])
def test_bad_sends_change_nothing(demo_online, sealed, to, sender, message):
    before = _counts(demo_online)
    with pytest.raises((InvalidInput, NotFound), match=message):
        _send(demo_online, sealed, to=to, sender=sender)
    assert _counts(demo_online) == before


def test_unsigned_and_tampered_documents_are_refused(demo_online, sealed, tmp_path):
    from tests.unit.signing.pdfgen import make_pdf

    unsigned = make_pdf(tmp_path / "plain.pdf").read_bytes()
    with pytest.raises(InvalidInput, match="no digital signature"):
        _send(demo_online, unsigned)
    tampered = bytearray(sealed)
    tampered[200] ^= 0x01
    with pytest.raises(InvalidInput, match="HASH_FAILURE"):
        _send(demo_online, bytes(tampered))
    assert _counts(demo_online)[0] == 0


def test_a_document_id_is_used_once_for_a_new_document(demo_online, sealed):
    _send(demo_online, sealed, code_number="07")
    before = _counts(demo_online)
    with pytest.raises(Conflict, match="already sent as a new document"):
        _send(demo_online, sealed, code_number="07")
    assert _counts(demo_online) == before


@pytest.mark.embedded_only  # the verdict store is files under the data dir, whatever the database
def test_a_send_reuses_the_verdict_of_the_issue_only_for_the_same_bytes_and_trust(demo_online, sealed, tmp_path):
    """The seal this install made is verified once, when issued; its send uses that verdict. Other bytes,
    or the same bytes after the trust store changed, are verified again."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from docsign.exchange.verdicts import ISSUED_VERDICTS, record_issued
    from docsign.pki.trust import default_trust_store

    later = sealed_pdf(demo_online, PROVINCE, tmp_path / "later", number="06", seal_only=True).read_bytes()
    unissued = sealed_pdf(demo_online, PROVINCE, tmp_path / "other", number="07", seal_only=True).read_bytes()
    assert record_issued(demo_online, sealed).indication.value == "TOTAL_PASSED"
    assert record_issued(demo_online, later).indication.value == "TOTAL_PASSED"

    def counts() -> tuple[int, int]:
        return ISSUED_VERDICTS.reused, ISSUED_VERDICTS.verified

    before = counts()
    _send(demo_online, sealed, code_number="11")
    assert counts() == (before[0] + 1, before[1])
    _send(demo_online, unissued, code_number="12")
    assert counts() == (before[0] + 1, before[1] + 1)
    # another anchor in the trust store: the kept verdict no longer holds
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Another root")])
    now = dt.datetime.now(dt.UTC)
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    default_trust_store(demo_online).add(tmp_path / "root.pem")
    _send(demo_online, later, code_number="13")
    assert counts() == (before[0] + 1, before[1] + 2)


def _delivery_ids(settings, exchange_id):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return [d.id for d in s.get(Exchange, exchange_id).deliveries]


def _receive(settings, delivery_id):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return svc.receive(s, settings, delivery_id)


def test_receipt_files_the_document_once_and_answers_01(demo_online, sealed):
    first, second = _delivery_ids(demo_online, _send(demo_online, sealed))
    outcome = _receive(demo_online, first)
    assert outcome.state == "delivered"
    assert _receive(demo_online, first).detail == "already handled"  # a redelivered message
    with session_scope(demo_online.database_url) as s:
        delivery = s.get(Delivery, first)
        inbox = s.scalars(select(Document).where(Document.received_via_delivery_id == first)).all()
        assert len(inbox) == 1 and inbox[0].origin is DocumentOrigin.RECEIVED
        assert inbox[0].agency.code == LAC_SON and delivery.inbox_document_id == inbox[0].id
        assert BlobStore(demo_online.blob_dir).read_bytes(inbox[0].revisions[0].sha256) == sealed
        assert [e.code for e in delivery.events] == [None, "01"]
        status_rows = s.scalars(select(OutboxMessage).where(OutboxMessage.task_name == svc.STATUS_TASK)).all()
        assert [(o.queue, o.payload) for o in status_rows] == [
            (f"agency.{PROVINCE}", {"status_event_id": delivery.events[1].id})]
        event_id = delivery.events[1].id
        # The unique reference is what keeps receipt idempotent, not a check before the insert.
        s.add(Document(agency=delivery.recipient, origin=DocumentOrigin.RECEIVED, title="dup",
                       received_via_delivery_id=first))
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()
    with session_scope(demo_online.database_url) as s:
        assert svc.status_reached(s, demo_online, [event_id]) == 1
    with session_scope(demo_online.database_url) as s:
        assert svc.status_reached(s, demo_online, [event_id]) == 0  # a redelivered message
    with session_scope(demo_online.database_url) as s:
        assert s.get(StatusEvent, event_id).received_at is not None
        assert s.get(Delivery, second).state == "queued"


def _swap_packet(settings, delivery_id, pdf):  # type: ignore[no-untyped-def]
    """Replace an exchange's packet, as if another system had sent these bytes."""
    with session_scope(settings.database_url) as s:
        exchange = s.get(Delivery, delivery_id).exchange
        packet = edxml.parse_document_packet(svc.read_packet(settings, exchange))
        forged = replace(packet, attachments=(edxml.Attachment.new("forged.pdf", pdf),), signature="")
        # sealed with the sender's key, so that what is checked is the PDF (the packet's own seal is tested below)
        data = packet_seals.seal_outgoing(s, settings, exchange.sender, edxml.build_document_packet(forged))
        exchange.packet_sha256 = BlobStore(settings.blob_dir).put_bytes(data).key


def test_receipt_rejects_a_broken_signature_with_02(demo_online, sealed):
    first, _ = _delivery_ids(demo_online, _send(demo_online, sealed))
    tampered = bytearray(sealed)
    tampered[300] ^= 0x01
    _swap_packet(demo_online, first, bytes(tampered))
    outcome = _receive(demo_online, first)
    assert outcome.state == "rejected" and "HASH_FAILURE" in outcome.detail
    with session_scope(demo_online.database_url) as s:
        delivery = s.get(Delivery, first)
        assert delivery.inbox_document_id is None
        assert delivery.events[-1].code == "02" and "HASH_FAILURE" in delivery.events[-1].description
        assert s.scalar(select(func.count()).select_from(Document).where(
            Document.origin == DocumentOrigin.RECEIVED)) == 0


def test_receipt_rejects_a_seal_of_another_agency(demo_online, sealed, tmp_path):
    first, _ = _delivery_ids(demo_online, _send(demo_online, sealed))
    other = sealed_pdf(demo_online, DEPT, tmp_path / "other", seal_only=True).read_bytes()
    _swap_packet(demo_online, first, other)
    outcome = _receive(demo_online, first)
    assert outcome.state == "rejected" and "no signature belongs to the sending agency" in outcome.detail


def test_people_move_deliveries_on_and_recall(demo_online, sealed):
    first, second = _delivery_ids(demo_online, _send(demo_online, sealed))
    _receive(demo_online, first)

    def status(code, by, delivery=first):  # type: ignore[no-untyped-def]
        with session_scope(demo_online.database_url) as s:
            return svc.record_status(s, demo_online, delivery, code, by_agency_code=by, actor="test").state

    assert status("03", LAC_SON) == "accepted"
    with pytest.raises(InvalidTransition, match="cannot follow"):
        status("01", LAC_SON)
    with pytest.raises(PermissionDenied):
        status("05", PROVINCE)  # 05 is the receiver's to give
    with pytest.raises(PermissionDenied):
        status("05", DEPT)  # neither sender nor recipient
    assert status("05", LAC_SON) == "processing"
    assert status("13", PROVINCE) == "recall_requested"
    assert status("16", LAC_SON) == "processing"  # refused: back where it was
    assert status("13", PROVINCE) == "recall_requested"
    assert status("15", LAC_SON) == "recalled"
    with pytest.raises(Conflict, match="given by the receiving system"):
        status("01", TAN_LAC, delivery=second)
    with session_scope(demo_online.database_url) as s:
        codes = [e.code for e in s.get(Delivery, first).events]
    assert codes == [None, "01", "03", "05", "13", "16", "13", "15"]


def test_dead_letter_and_redrive(demo_online, sealed):
    first, _ = _delivery_ids(demo_online, _send(demo_online, sealed))
    with session_scope(demo_online.database_url) as s:
        assert svc.dead_letter(s, first, "broker unreachable")
    with session_scope(demo_online.database_url) as s:
        assert s.get(Delivery, first).state == "dead_letter"
        assert not svc.dead_letter(s, first, "again")
        before = s.scalar(select(func.count()).select_from(OutboxMessage))
        assert svc.redrive(s, actor="test") == [first]
    with session_scope(demo_online.database_url) as s:
        assert s.get(Delivery, first).state == "queued"
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == before + 1
    assert _receive(demo_online, first).state == "delivered"


def test_stale_deliveries_are_published_again_then_dead_lettered(demo_online, sealed):
    first, second = _delivery_ids(demo_online, _send(demo_online, sealed))
    _receive(demo_online, second)
    with session_scope(demo_online.database_url) as s:
        for row in s.scalars(select(OutboxMessage)):
            row.published_at = utcnow()
        s.get(Delivery, first).updated_at = utcnow() - dt.timedelta(minutes=10)
    with session_scope(demo_online.database_url) as s:
        assert svc.requeue_stale(s, older_than=dt.timedelta(minutes=1), max_attempts=1) == (1, 0)
    with session_scope(demo_online.database_url) as s:
        assert s.get(Delivery, first).attempts == 1
        for row in s.scalars(select(OutboxMessage)):
            row.published_at = utcnow()
        s.get(Delivery, first).updated_at = utcnow() - dt.timedelta(minutes=10)
    with session_scope(demo_online.database_url) as s:
        assert svc.requeue_stale(s, older_than=dt.timedelta(minutes=1), max_attempts=1) == (0, 1)
    with session_scope(demo_online.database_url) as s:
        assert s.get(Delivery, first).state == "dead_letter"
        assert s.get(Delivery, second).state == "delivered"


def test_outbox_reaches_the_real_broker_in_order(demo_online, sealed):
    from kombu import Connection

    from workers.app import create_celery
    from workers.relay import relay_once

    first, second = _delivery_ids(demo_online, _send(demo_online, sealed))
    app = create_celery(demo_online)
    assert relay_once(demo_online, app) == 2
    assert relay_once(demo_online, app) == 0
    with Connection(demo_online.broker_url, transport=app.conf.broker_transport) as conn:
        for delivery_id, code in ((first, LAC_SON), (second, TAN_LAC)):
            queue = conn.SimpleQueue(f"agency.{code}")
            message = queue.get(timeout=10)
            assert message.headers["task"] == svc.DELIVER_TASK
            assert message.payload[1] == {"delivery_ids": [delivery_id]}
            message.ack()
            queue.close()


def test_the_relay_sends_what_waits_for_one_queue_together_in_bounded_batches(demo_online):
    """Rows for the same task and queue share a message (at most BATCHES' limit each), in the order of
    their first row; other tasks go one row a message."""
    with session_scope(demo_online.database_url) as s:
        for n in range(23):
            svc.enqueue(s, svc.DELIVER_TASK, LAC_SON if n % 2 else TAN_LAC, delivery_id=n + 1)
        s.add(OutboxMessage(task_name="docsign.ping", queue="docsign", payload={"nonce": "x"}))
        s.add(OutboxMessage(task_name="docsign.ping", queue="docsign", payload={"nonce": "y"}))
    published: list[tuple[str, str, dict[str, object]]] = []
    with session_scope(demo_online.database_url) as s:
        assert svc.publish_outbox(s, lambda *m: published.append(m[:3])) == 25
    evens, odds = list(range(1, 24, 2)), list(range(2, 24, 2))
    assert published == [
        (svc.DELIVER_TASK, f"agency.{TAN_LAC}", {"delivery_ids": evens[:10]}),
        (svc.DELIVER_TASK, f"agency.{LAC_SON}", {"delivery_ids": odds[:10]}),
        (svc.DELIVER_TASK, f"agency.{TAN_LAC}", {"delivery_ids": evens[10:]}),
        (svc.DELIVER_TASK, f"agency.{LAC_SON}", {"delivery_ids": odds[10:]}),
        ("docsign.ping", "docsign", {"nonce": "x"}),
        ("docsign.ping", "docsign", {"nonce": "y"}),
    ]


def test_a_failed_publication_leaves_the_batch_and_the_rest_unpublished(demo_online):
    with session_scope(demo_online.database_url) as s:
        for n in range(3):
            svc.enqueue(s, svc.DELIVER_TASK, LAC_SON if n == 2 else TAN_LAC, delivery_id=n + 1)

    def broker_down(*_message: object) -> None:
        raise ConnectionError("broker unreachable")

    with session_scope(demo_online.database_url) as s:
        assert svc.publish_outbox(s, broker_down) == 0
    with session_scope(demo_online.database_url) as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(r.published_at, r.attempts) for r in rows] == [(None, 1), (None, 1), (None, 0)]
        assert "broker unreachable" in rows[0].last_error


def test_status_packets_for_one_agency_travel_together(demo_online, sealed):
    """The relay sends the status packets waiting for one agency in one message; the other side records
    each, and one that answers another document is left unrecorded without holding up the rest."""
    published: list[tuple[str, str, dict[str, object]]] = []
    first, second = _delivery_ids(demo_online, _send(demo_online, sealed))
    with session_scope(demo_online.database_url) as s:
        assert svc.publish_outbox(s, lambda *m: published.append(m[:3])) == 2  # the two deliveries
    _receive(demo_online, first)
    _receive(demo_online, second)
    with session_scope(demo_online.database_url) as s:
        # two 01 packets in one message, and each received document's B-LT extension (docsign.ltv)
        assert svc.publish_outbox(s, lambda *m: published.append(m[:3])) == 4
        events = [s.scalars(select(StatusEvent).where(StatusEvent.delivery_id == d, StatusEvent.code == "01")).one()
                  for d in (first, second)]
        ids = [e.id for e in events]
        other = edxml.parse_status_packet(BlobStore(demo_online.blob_dir).read_bytes(events[1].packet_sha256))
        forged = replace(other, response_for=replace(other.response_for, document_id="000.00.00.H30,2020/01/01,99/VP"))
        events[1].packet_sha256 = BlobStore(demo_online.blob_dir).put_bytes(edxml.build_status_packet(forged)).key
    assert [m[0] for m in published] == [svc.DELIVER_TASK, svc.DELIVER_TASK, svc.STATUS_TASK, ltv.MAINTAIN_TASK,
                                         ltv.MAINTAIN_TASK]
    assert published[2][1:] == (f"agency.{PROVINCE}", {"status_event_ids": ids})
    with session_scope(demo_online.database_url) as s:
        assert svc.status_reached(s, demo_online, [*ids, 999_999]) == 1
    with session_scope(demo_online.database_url) as s:
        assert s.get(StatusEvent, ids[0]).received_at is not None
        assert s.get(StatusEvent, ids[1]).received_at is None


def test_a_scan_of_12_mb_goes_through(demo_online, tmp_path):
    """Bigger than one XML text node holds by default (10 MB of base64): UTF-8 packets are read without it."""
    scan = sealed_pdf(demo_online, PROVINCE, tmp_path / "scan", number="12", seal_only=True,
                      image_bytes=12 * 1024 * 1024).read_bytes()
    assert len(scan) > 12 * 1024 * 1024
    first, _ = _delivery_ids(demo_online, _send(demo_online, scan))
    assert _receive(demo_online, first).state == "delivered"
    with session_scope(demo_online.database_url) as s:
        inbox = s.scalars(select(Document).where(Document.received_via_delivery_id == first)).one()
        assert BlobStore(demo_online.blob_dir).read_bytes(inbox.revisions[0].sha256) == scan


def test_the_axis_fields_and_each_peers_status_form(demo_online, sealed):
    fields = svc.packet_fields(content="Tóm tắt nội dung", due_date="15/01/2030", steering_type="1",
                               to_places=["Như trên;", " ", "Lưu: VT."])
    first, second = _delivery_ids(demo_online, _send(demo_online, sealed, **fields))
    with session_scope(demo_online.database_url) as s:
        header = edxml.parse_document_packet(svc.read_packet(demo_online, s.get(Delivery, first).exchange)) \
            .message_header
        assert (header.content, header.due_date, header.steering_type, header.to_places) == (
            "Tóm tắt nội dung", dt.date(2030, 1, 15), 1, ("Như trên;", "Lưu: VT."))
        assert s.scalar(select(Agency).where(Agency.code == PROVINCE)).status_form is edxml.StatusForm.MESSAGE_HEADER
    _receive(demo_online, first)  # the province reads the national axis's form (the default)
    with session_scope(demo_online.database_url) as s:
        s.scalar(select(Agency).where(Agency.code == PROVINCE)).status_form = edxml.StatusForm.STATUS
    _receive(demo_online, second)  # ... until it is set to read QCVN 102's Status element
    store = BlobStore(demo_online.blob_dir)
    with session_scope(demo_online.database_url) as s:
        forms = [edxml.parse_status_packet(store.read_bytes(s.get(Delivery, d).events[-1].packet_sha256)).form
                 for d in (first, second)]
    assert forms == [edxml.StatusForm.MESSAGE_HEADER, edxml.StatusForm.STATUS]


@pytest.mark.parametrize(("fields", "message"), [
    ({"due_date": "soon"}, "is not a date"),
    ({"steering_type": "7"}, "steering type is 1"),
    ({"content": "x" * 501}, "at most 500"),
    ({"to_places": "x" * 151}, "at most 150"),
])
def test_bad_axis_fields_are_refused(fields, message):
    with pytest.raises(InvalidInput, match=message):
        svc.packet_fields(**fields)


def test_update_replace_and_revoke_act_on_the_document_that_arrived(demo_online, sealed):
    original = _send(demo_online, sealed)
    for delivery_id in _delivery_ids(demo_online, original):
        assert _receive(demo_online, delivery_id).state == "delivered"
    with session_scope(demo_online.database_url) as s:
        original_id = s.get(Exchange, original).edxml_document_id
        first_inbox = {d.recipient.code: (d.id, d.inbox_document_id) for d in s.get(Exchange, original).deliveries}

    # An update (2) is filed as a new inbox document linked to the earlier one, and both histories say so.
    update = _send(demo_online, sealed, to=(LAC_SON,), business_type=2,
                   related_document_id=original_id)
    (update_delivery,) = _delivery_ids(demo_online, update)
    assert _receive(demo_online, update_delivery).state == "delivered"
    with session_scope(demo_online.database_url) as s:
        newer = s.get(Delivery, update_delivery).inbox_document
        assert newer.previous_version_id == first_inbox[LAC_SON][1]
        earlier_history = [e.description for e in s.get(Delivery, first_inbox[LAC_SON][0]).events]
        assert any(f"document #{newer.id}" in (d or "") for d in earlier_history)
        assert f"document #{first_inbox[LAC_SON][1]}" in s.get(Delivery, update_delivery).events[-1].description

    # A revocation (1) freezes the document that arrived (recalled) and answers the sender with 15 on it.
    revocation = _send(demo_online, sealed, to=(TAN_LAC,), business_type=1,
                       related_document_id=original_id)
    (revocation_delivery,) = _delivery_ids(demo_online, revocation)
    outcome = _receive(demo_online, revocation_delivery)
    assert outcome.state == "delivered" and "revoked" in outcome.detail
    with session_scope(demo_online.database_url) as s:
        revoked = s.get(Delivery, first_inbox[TAN_LAC][0])
        assert revoked.state == "recalled"
        assert [e.code for e in revoked.events][-2:] == ["13", "15"]
        answer = revoked.events[-1]
        assert answer.packet_sha256 is not None
        status = edxml.parse_status_packet(BlobStore(demo_online.blob_dir).read_bytes(answer.packet_sha256))
        assert (status.status_code.value, status.response_for.document_id) == ("15", original_id)
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.task_name == svc.STATUS_TASK, OutboxMessage.queue == f"agency.{PROVINCE}",
            OutboxMessage.payload["status_event_id"].as_integer() == answer.id)) == 1
        assert s.get(Delivery, revocation_delivery).inbox_document is None  # nothing new is filed
        assert s.scalar(select(func.count()).where(AuditEvent.action == "exchange.revoke")) == 1


def test_a_revocation_of_a_document_that_never_arrived_is_refused_and_recorded(demo_online, sealed):
    never = f"{PROVINCE},2020/01/02,99/UBND-VP"
    revocation = _send(demo_online, sealed, to=(LAC_SON,), business_type=1,
                       related_document_id=never)
    (delivery_id,) = _delivery_ids(demo_online, revocation)
    outcome = _receive(demo_online, delivery_id)
    assert outcome.state == "rejected" and "never arrived here" in outcome.detail and never in outcome.detail
    with session_scope(demo_online.database_url) as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery.events[-1].code == "02" and "never arrived here" in delivery.events[-1].description
        assert delivery.inbox_document is None
        assert s.scalar(select(func.count()).where(AuditEvent.action == "exchange.reject")) == 1
