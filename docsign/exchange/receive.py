"""Receiving: the recipient's side of a delivery verifies every signature and that the seal belongs to
the sender, files the document in the recipient's inbox and answers with a status packet (01, or 02
with the reasons).

Idempotent by construction: the delivery's state moves with a conditional UPDATE and the inbox
document carries a unique reference to its delivery."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from docsign import audit
from docsign.config import Settings
from docsign.documents import register
from docsign.errors import DocsignError, NotFound, ServiceUnavailable
from docsign.exchange import edxml, packet_seals, receipts
from docsign.exchange.directory import codes_of
from docsign.exchange.send import max_packet_bytes
from docsign.exchange.status_flow import status_event
from docsign.exchange.statuses import DeliveryState, Party, StatusCode, next_state
from docsign.exchange.verdicts import RECEIPT_VERDICTS, is_transient, pdf_attachment, seal_problems
from docsign.ltv import service as ltv
from docsign.mail import service as mail
from docsign.models import Delivery, Document, DocumentOrigin, DocumentRevision, Exchange, StatusEvent, utcnow
from docsign.storage import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: str
    detail: str


def receive(session: Session, settings: Settings, delivery_id: int) -> Outcome:
    """The recipient's side of a delivery: verify, file in the inbox, answer 01 or 02.

    Safe to run any number of times for the same delivery: only the first run that finds it queued
    does anything.
    """
    delivery = session.get(Delivery, delivery_id, options=[
        joinedload(Delivery.exchange).joinedload(Exchange.sender), joinedload(Delivery.recipient)])
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    if delivery.state != DeliveryState.QUEUED:
        log.info("delivery %s already handled (%s): duplicate message ignored", delivery.id, delivery.state)
        return Outcome(delivery.id, delivery.state, "already handled")
    exchange = delivery.exchange
    store = BlobStore(settings.blob_dir)
    assert exchange.packet_sha256 is not None
    packet_bytes = store.read_bytes(exchange.packet_sha256)
    packet = edxml.parse_document_packet(packet_bytes, max_bytes=max_packet_bytes(settings))
    addressed_to = {o.organ_id for o in packet.message_header.to}
    if delivery.recipient.code not in addressed_to and not codes_of(session, delivery.recipient) & addressed_to:
        return _reject(session, settings, store, delivery, packet,
                       [f"the packet is not addressed to {delivery.recipient.code}"])
    signature_problems = packet_seals.incoming_problems(session, settings, packet_bytes, exchange.sender)
    if signature_problems:
        return _reject(session, settings, store, delivery, packet, signature_problems)
    try:
        pdf = pdf_attachment(packet)
        report = RECEIPT_VERDICTS.verify(settings, pdf)
    except DocsignError as exc:
        if exc.retryable:
            raise
        return _reject(session, settings, store, delivery, packet, [exc.message])
    if is_transient(report):
        raise ServiceUnavailable("revocation status cannot be checked yet (TRY_LATER); the delivery will be retried")
    problems = seal_problems(session, report, exchange.sender)
    if problems:
        return _reject(session, settings, store, delivery, packet, problems)
    business = packet.trace_header_list.business
    related = business.related_document_ids(packet.message_header.document_id)
    if business.business_doc_type == 1:
        return _revoke(session, settings, store, delivery, packet, related)
    earlier = _received_earlier(session, delivery, related) if related else None
    if not _claim(session, delivery, StatusCode.ARRIVED):
        return Outcome(delivery.id, delivery.state, "already handled")
    header = packet.message_header
    inbox = Document(agency=delivery.recipient, origin=DocumentOrigin.RECEIVED, title=header.subject,
                     document_type=header.document_type.type_name, code_number=header.code.code_number,
                     code_notation=header.code.code_notation,
                     promulgation_date=header.promulgation_info.promulgation_date,
                     received_via_delivery_id=delivery.id,
                     previous_version_id=earlier[0].id if earlier else None)
    blob_key = report.document.sha256
    if not store.exists(blob_key):  # the sender's copy, when both sides share a store: same bytes, same key
        blob_key = store.put_bytes(pdf).key
    inbox.revisions.append(DocumentRevision(number=1, sha256=blob_key, size=len(pdf), action="receive"))
    session.add(inbox)
    # The electronic arrival is its registration (Decree 30 Art. 22): the arrivals register flushes the
    # inbox document (whose unique received_via_delivery_id makes a second inbox entry impossible).
    arrival = register.register_arrival(session, inbox, agency_id=delivery.recipient_agency_id, issuer=exchange.sender,
                                        edxml_document_id=header.document_id, due_date=header.due_date,
                                        business_type=packet.trace_header_list.business.business_doc_type)
    arrived = ("Văn bản đã đến, chữ ký số hợp lệ / Arrived, signatures valid"
               + (f"; số đến {arrival.number_text}" if arrival.number is not None else ""))
    if earlier is not None:
        session.flush()  # the new inbox document's id, for both histories
        kind = "cập nhật / an update" if business.business_doc_type == 2 else "thay thế / a replacement"
        arrived += f"; bản {kind} of document #{earlier[0].id}"
        session.add(StatusEvent(delivery=earlier[1], state=DeliveryState(earlier[1].state).value,
                                actor_agency_id=exchange.sender_agency_id,
                                description=f"Đã có bản {kind}: document #{inbox.id} ({header.document_id})"))
    receipt = receipts.Receipt(header.document_id, report.document.sha256, utcnow(), delivery.recipient.code)
    event = status_event(session, store, delivery, packet, StatusCode.ARRIVED, delivery.recipient, arrived,
                         seal=receipts.receipt_sealer(session, settings, delivery.recipient, receipt))
    mail.on_receipt(session, settings, event)
    ltv.track(session, inbox)  # extended to B-LT once this receipt is committed (its own task, through the outbox)
    audit.record(session, f"agency:{delivery.recipient.code}", "exchange.receive",
                 agency_id=delivery.recipient_agency_id, object_type="delivery", object_id=delivery.id,
                 details={"exchange": exchange.id})
    return Outcome(delivery.id, DeliveryState.DELIVERED.value, "arrived")


def _received_earlier(session: Session, delivery: Delivery,
                      document_ids: Sequence[str]) -> tuple[Document, Delivery] | None:
    """The recipient's inbox document (and its delivery) that came from the same sender under one of these
    DocumentIds: what a revocation, update or replacement acts on."""
    found = session.execute(
        select(Document, Delivery).join(Delivery, Document.received_via_delivery_id == Delivery.id)
        .join(Exchange, Delivery.exchange_id == Exchange.id)
        .where(Delivery.recipient_agency_id == delivery.recipient_agency_id, Delivery.id != delivery.id,
               Exchange.sender_agency_id == delivery.exchange.sender_agency_id,
               Exchange.edxml_document_id.in_(list(document_ids)))
        .order_by(Delivery.id.desc()).limit(1)).first()
    return (found[0], found[1]) if found is not None else None


def _revoke(session: Session, settings: Settings, store: BlobStore, delivery: Delivery,
            packet: edxml.DocumentPacket, document_ids: Sequence[str]) -> Outcome:
    """A revocation (BussinessDocType 1): the document it names is frozen (recalled) in the recipient's inbox
    and the sender gets the answer QCVN 102 gives a recall: 15 on that document, and 01 for the revocation
    itself. A revocation of a document that never arrived, or that was refused here, is refused with 02."""
    earlier = _received_earlier(session, delivery, document_ids)
    names = ", ".join(document_ids)
    if earlier is None:
        return _reject(session, settings, store, delivery, packet, [
            f"revocation of {names}: that document never arrived here from {delivery.exchange.sender.code}"])
    document, revoked = earlier
    if revoked.state != DeliveryState.RECALLED:
        try:
            requested = next_state(revoked.state, StatusCode.RECALL_REQUESTED, by=Party.SENDER)
            agreed = next_state(requested, StatusCode.RECALL_AGREED, by=Party.RECEIVER, before_recall=revoked.state)
        except DocsignError:
            return _reject(session, settings, store, delivery, packet, [
                f"revocation of {names}: the document is {DeliveryState(revoked.state).value} here and cannot be "
                "revoked"])
    if not _claim(session, delivery, StatusCode.ARRIVED):
        return Outcome(delivery.id, delivery.state, "already handled")
    reason = packet.trace_header_list.business.business_doc_reason.strip() or "Thu hồi văn bản / Revoked"
    if revoked.state != DeliveryState.RECALLED:
        # The revocation packet is the sender's request (13); the receiving system agrees at once (15).
        session.add(StatusEvent(delivery=revoked, code=StatusCode.RECALL_REQUESTED.value, state=requested.value,
                                actor_agency_id=delivery.exchange.sender_agency_id,
                                description=f"Thu hồi (BussinessDocType 1) / Revocation: {reason}"[:2000]))
        revoked.state = agreed
        revoked.before_recall = None
        assert revoked.exchange.packet_sha256 is not None
        original = edxml.parse_document_packet(store.read_bytes(revoked.exchange.packet_sha256),
                                               max_bytes=max_packet_bytes(settings))
        status_event(session, store, revoked, original, StatusCode.RECALL_AGREED, delivery.recipient,
                     f"Đã thu hồi văn bản / Revoked: {reason}"[:2000])
    status_event(session, store, delivery, packet, StatusCode.ARRIVED, delivery.recipient,
                 f"Đã nhận yêu cầu thu hồi; văn bản #{document.id} đã được thu hồi / Revocation applied to "
                 f"document #{document.id}")
    audit.record(session, f"agency:{delivery.recipient.code}", "exchange.revoke",
                 agency_id=delivery.recipient_agency_id, object_type="document", object_id=document.id,
                 details={"delivery": delivery.id, "revoked_delivery": revoked.id, "document_ids": list(document_ids)})
    return Outcome(delivery.id, DeliveryState.DELIVERED.value, f"revoked document #{document.id}")


def _claim(session: Session, delivery: Delivery, code: StatusCode) -> bool:
    """Move a queued delivery on with a conditional UPDATE; False when another run got there first."""
    target = next_state(delivery.state, code, by=Party.RECEIVER)
    now = utcnow()
    table = Delivery.__table__
    # A Core statement on the session's connection: no ORM bulk-update machinery, no flush of pending rows
    result = session.connection().execute(update(table).where(table.c.id == delivery.id,
                                                              table.c.state == delivery.state)
                                          .values(state=target, updated_at=now))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(delivery)
        return False
    set_committed_value(delivery, "state", target)  # what the UPDATE wrote; no need to read it back
    set_committed_value(delivery, "updated_at", now)
    return True


def _reject(session: Session, settings: Settings, store: BlobStore, delivery: Delivery,
            packet: edxml.DocumentPacket, reasons: list[str]) -> Outcome:
    if not _claim(session, delivery, StatusCode.REJECTED):
        return Outcome(delivery.id, delivery.state, "already handled")
    description = "Từ chối tiếp nhận / Rejected: " + "; ".join(reasons)
    event = status_event(session, store, delivery, packet, StatusCode.REJECTED, delivery.recipient,
                         description[:2000])
    mail.on_receipt(session, settings, event)
    audit.record(session, f"agency:{delivery.recipient.code}", "exchange.reject",
                 agency_id=delivery.recipient_agency_id, object_type="delivery", object_id=delivery.id,
                 details={"reasons": reasons})
    log.info("delivery %s rejected: %s", delivery.id, "; ".join(reasons))
    return Outcome(delivery.id, DeliveryState.REJECTED.value, "; ".join(reasons))

