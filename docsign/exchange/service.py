"""Sending and receiving documents between agencies: the exchange flow of design.md.

send → one transaction writes the exchange, a delivery per recipient, the edXML packet, outbox rows
and an audit event → the relay publishes the outbox → ``receive`` runs on the recipient's queue,
verifies every signature and that the seal belongs to the sender, files the document in the
recipient's inbox and answers with a status packet (01, or 02 with the reasons) → the status reaches
the sender's side (``status_reached``). People move the delivery on with :func:`record_status`.

Functions take the session first and never commit: the caller's transaction decides. Receipt is
idempotent by construction: the delivery's state moves with a conditional UPDATE and the inbox
document carries a unique reference to its delivery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from docsign import audit, verification
from docsign.config import Settings
from docsign.errors import Conflict, DocsignError, InvalidInput, NotFound, PermissionDenied
from docsign.exchange import edxml
from docsign.exchange.directory import get_agency
from docsign.exchange.statuses import DeliveryState, Party, StatusCode, TransportEvent, next_state
from docsign.mail import service as mail
from docsign.models import (
    Agency,
    Delivery,
    Document,
    DocumentOrigin,
    DocumentRevision,
    Exchange,
    KeyKind,
    KeyRef,
    OutboxMessage,
    StatusEvent,
    utcnow,
)
from docsign.storage import BlobStore
from docsign.verification.report import Indication, VerificationReport

log = logging.getLogger(__name__)
DELIVER_TASK = "docsign.exchange.deliver"
STATUS_TASK = "docsign.exchange.status"
VN_TZ = dt.timezone(dt.timedelta(hours=7))
TRANSIENT_SUB_INDICATIONS = {"TRY_LATER"}
RECEIPT_VERDICT_SECONDS = 5.0
"""How long a worker process reuses its verification of the same PDF bytes under the same trust anchors
(the other recipients of one exchange); see :class:`_ReceiptVerdicts`."""


def agency_queue(code: str) -> str:
    return f"agency.{code}"


@dataclass(frozen=True)
class SendRequest:
    sender_code: str
    recipient_codes: tuple[str, ...]
    subject: str
    """Trích yếu: what the document is about (≤500)."""
    file_name: str = "document.pdf"
    code_number: str | None = None
    """Số: assigned by the system (next number of the sender's year) when not given."""
    code_notation: str = "VP"
    """Ký hiệu, e.g. UBND-VP."""
    type_name: str = "Công văn"
    priority: int = 0
    due_date: dt.date | None = None
    business_type: int = 0
    """0 new document, 1 revocation, 2 update, 3 replacement."""
    related_document_id: str | None = None
    """For business types 1-3: the DocumentId being revoked, updated or replaced."""


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: str
    detail: str


# -- sending ------------------------------------------------------------------------------------

def send(session: Session, settings: Settings, request: SendRequest, pdf: bytes, *, actor: str,
         created_by_id: int | None = None, document: Document | None = None) -> Exchange:
    """Send a sealed PDF to one or more agencies. Nothing is written unless everything checks out.

    ``document`` is the sender's document these bytes are the current revision of (the web UI's
    case); without it (a file from the command line or the API) a document is filed for them.
    """
    sender = get_agency(session, request.sender_code)
    recipients = _recipients(session, sender, request.recipient_codes)
    report = _verify(settings, pdf)
    problems = seal_problems(session, report, sender)
    if problems:
        raise InvalidInput("the document cannot be sent: " + "; ".join(problems))
    store = BlobStore(settings.blob_dir)
    today = dt.datetime.now(VN_TZ).date()
    number = request.code_number or _next_number(session, sender, today.year)
    if document is None:
        document = Document(agency=sender, origin=DocumentOrigin.DRAFTED, title=request.subject,
                            document_type=request.type_name, code_number=number,
                            code_notation=request.code_notation, promulgation_date=today,
                            created_by_id=created_by_id)
    packet = edxml.DocumentPacket(
        message_header=edxml.MessageHeader(
            from_=organization(sender),
            to=tuple(organization(r) for r in recipients),
            document_id=edxml.make_document_id(sender.code, today, number, request.code_notation),
            code=edxml.Code(number, request.code_notation),
            promulgation_info=edxml.PromulgationInfo(_place(sender), today),
            document_type=edxml.DocumentType(2, request.type_name),
            subject=request.subject,
            signer_info=_signer_info(report, sender),
            due_date=request.due_date,
            other_info=edxml.OtherInfo(priority=request.priority, page_amount=report.document.pages),
        ),
        trace_header_list=edxml.TraceHeaderList(
            trace_headers=(edxml.TraceHeader(sender.code, edxml.vn_now()),),
            business=edxml.Business(business_doc_type=request.business_type,
                                    document_id=request.related_document_id or ""),
        ),
        attachments=(edxml.Attachment.new(request.file_name, pdf),),
    )
    packet_bytes = edxml.build_document_packet(packet, max_bytes=_max_packet_bytes(settings))
    return _record_exchange(session, store, packet, packet_bytes, document, sender, recipients, pdf,
                            request.business_type, actor, created_by_id)


def import_packet(session: Session, settings: Settings, data: bytes, *, actor: str) -> Exchange:
    """Take an edXML packet written elsewhere (another system, `exchange export`) and send it on as is."""
    packet = edxml.parse_document_packet(data, max_bytes=_max_packet_bytes(settings))
    header = packet.message_header
    sender = get_agency(session, header.from_.organ_id)
    recipients = _recipients(session, sender, tuple(o.organ_id for o in header.to))
    pdf = _pdf_attachment(packet)
    problems = seal_problems(session, _verify(settings, pdf), sender)
    if problems:
        raise InvalidInput("the packet cannot be accepted: " + "; ".join(problems))
    document = Document(agency=sender, origin=DocumentOrigin.DRAFTED, title=header.subject,
                        document_type=header.document_type.type_name, code_number=header.code.code_number,
                        code_notation=header.code.code_notation,
                        promulgation_date=header.promulgation_info.promulgation_date)
    return _record_exchange(session, BlobStore(settings.blob_dir), packet, data, document, sender, recipients,
                            pdf, packet.trace_header_list.business.business_doc_type, actor, None)


def _record_exchange(session: Session, store: BlobStore, packet: edxml.DocumentPacket, packet_bytes: bytes,
                     document: Document, sender: Agency, recipients: list[Agency], pdf: bytes,
                     business_type: int, actor: str, created_by_id: int | None) -> Exchange:
    header = packet.message_header
    pdf_blob = store.put_bytes(pdf)
    packet_blob = store.put_bytes(packet_bytes)
    revision = document.current
    if revision is None or revision.sha256 != pdf_blob.key:
        revision = DocumentRevision(number=len(document.revisions) + 1, sha256=pdf_blob.key, size=pdf_blob.size,
                                    action="upload", created_by_id=created_by_id)
        document.revisions.append(revision)
    session.add(document)
    exchange = Exchange(id=str(uuid.uuid4()), document=document, revision=revision, sender=sender,
                        edxml_document_id=header.document_id, business_type=business_type, subject=header.subject,
                        priority=header.other_info.priority, due_date=header.due_date,
                        packet_sha256=packet_blob.key, created_by_id=created_by_id)
    session.add(exchange)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"DocumentId {header.document_id} was already sent as a new document; "
                       "send an update (BussinessDocType 2) or use another number") from None
    deliveries = [Delivery(exchange=exchange, recipient=recipient, state=DeliveryState.QUEUED.value)
                  for recipient in recipients]
    session.add_all(deliveries)
    session.flush()  # one INSERT ... RETURNING for all of them: the outbox rows need their ids
    for delivery in deliveries:
        # set from the event's side: appending to delivery.events would first load the (empty) collection
        session.add(StatusEvent(delivery=delivery, state=DeliveryState.QUEUED.value, actor_agency_id=sender.id,
                                description="Đã gửi / Sent"))
        _enqueue(session, DELIVER_TASK, delivery.recipient.code, delivery_id=delivery.id)
    session.flush()  # write everything else before the audit append, which serialises writers until commit
    audit.record(session, actor, "exchange.send", agency_id=sender.id, object_type="exchange", object_id=exchange.id,
                 details={"document_id": header.document_id, "to": [r.code for r in recipients],
                          "sha256": pdf_blob.key})
    session.flush()
    return exchange


def _recipients(session: Session, sender: Agency, codes: Sequence[str]) -> list[Agency]:
    cleaned = [c.strip().upper() for c in codes if c.strip()]
    if not cleaned:
        raise InvalidInput("name at least one recipient agency")
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput("a recipient is named twice")
    if sender.code in cleaned:
        raise InvalidInput("an agency cannot send a document to itself")
    return [get_agency(session, code) for code in cleaned]


def _next_number(session: Session, sender: Agency, year: int) -> str:
    start = dt.date(year, 1, 1)
    count = len(session.scalars(select(Document.id).where(
        Document.agency_id == sender.id, Document.origin == DocumentOrigin.DRAFTED,
        Document.promulgation_date >= start)).all())
    return f"{count + 1:02d}"  # Decree 30: numbers below 10 get a leading zero


def _place(agency: Agency) -> str:
    if agency.address and "," in agency.address:
        return agency.address.rsplit(",", 1)[1].strip()[:50]
    return (agency.address or agency.name)[:50]


def organization(agency: Agency) -> edxml.Organization:
    return edxml.Organization(
        organ_id=agency.code, organ_name=agency.name,
        organization_in_charge=agency.organization_in_charge or (agency.parent.name if agency.parent else ""),
        organ_add=agency.address or "", email=agency.email or "", telephone=agency.telephone or "",
        fax=agency.fax or "", website=agency.website or "",
    )


def _signer_info(report: VerificationReport, sender: Agency) -> edxml.SignerInfo:
    # The leader's personal signature is the one whose organisation is the agency but whose name is a person's.
    for sig in report.signatures:
        if sig.signer and sig.signer.common_name and sig.signer.common_name != sender.name:
            return edxml.SignerInfo(full_name=sig.signer.common_name[:50])
    return edxml.SignerInfo()


def _max_packet_bytes(settings: Settings) -> int:
    # base64 grows the PDF by a third; leave room for the envelope.
    return settings.max_upload_bytes * 4 // 3 + 1024 * 1024


def _enqueue(session: Session, task: str, agency_code: str, **payload: object) -> None:
    session.add(OutboxMessage(task_name=task, queue=agency_queue(agency_code), payload=dict(payload)))


# -- checking what arrives ----------------------------------------------------------------------

def _verify(settings: Settings, pdf: bytes) -> VerificationReport:
    return verification.verify(pdf, settings)  # bounded in time and memory, like the public page


class _ReceiptVerdicts:
    """Verification reports of this process, reused for a few seconds for the same PDF bytes under the
    same trust anchors: one exchange reaches its recipients as one PDF, often through the same worker
    process within a second, and verifying it again would give the same report. The key is the SHA-256
    of the bytes and the fingerprints of the anchors, so different bytes or a changed trust store never
    share a verdict; the reuse window (RECEIPT_VERDICT_SECONDS) is far shorter than the five minutes for
    which fetched OCSP responses and CRLs are reused anyway, so no revocation is noticed later than it
    would be. Reports that say "try later" are never kept. Each recipient still checks the seal
    against its sender and files the document itself."""

    def __init__(self, ttl_seconds: float = RECEIPT_VERDICT_SECONDS, max_items: int = 64) -> None:
        self.ttl, self.max_items = ttl_seconds, max_items
        self._items: dict[tuple[str, str], tuple[float, VerificationReport]] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def verify(self, settings: Settings, pdf: bytes) -> VerificationReport:
        key = (hashlib.sha256(pdf).hexdigest(), verification.trust_fingerprint(settings))
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] >= now:
                self.hits += 1
                return found[1]
        self.misses += 1
        report = verification.verify(pdf, settings)
        if not _is_transient(report):
            with self._lock:
                for stale in [k for k, (expires, _) in self._items.items() if expires < now]:
                    del self._items[stale]
                if len(self._items) < self.max_items:
                    self._items[key] = (now + self.ttl, report)
        return report


RECEIPT_VERDICTS = _ReceiptVerdicts()


def seal_problems(session: Session, report: VerificationReport, sender: Agency) -> list[str]:
    """Why the document is not a validly sealed document of ``sender`` (empty when it is)."""
    if not report.signatures:
        return ["it carries no digital signature"]
    problems = []
    for sig in report.signatures:
        if sig.indication is not Indication.TOTAL_PASSED:
            who = sig.signer.common_name if sig.signer else sig.field
            reason = "; ".join(sig.errors) or (sig.sub_indication or sig.indication.value)
            problems.append(f"the signature of {who} is not valid ({sig.sub_indication or sig.indication.value}: "
                            f"{reason})")
    if problems:
        return problems
    signers = [sig.signer for sig in report.signatures if sig.signer is not None]
    if any(signer.organization == sender.name for signer in signers):
        return []
    registered = {_cert_id(der) for der in session.scalars(select(KeyRef.certificate_der).where(
        KeyRef.agency_id == sender.id, KeyRef.kind == KeyKind.SEAL))}
    if any((signer.serial, signer.issuer) in registered for signer in signers):
        return []
    return [f"no signature belongs to the sending agency {sender.name} ({sender.code}): the seal certificate's "
            "organisation must match the directory, or the key must be registered to the agency"]


def _cert_id(der: bytes) -> tuple[str, str]:
    cert = asn1_x509.Certificate.load(der)
    return format(cert.serial_number, "x"), cert.issuer.human_friendly


def _pdf_attachment(packet: edxml.DocumentPacket) -> bytes:
    for attachment in packet.attachments:
        if attachment.content_type == "application/pdf" or attachment.attachment_name.lower().endswith(".pdf"):
            return attachment.data
    raise InvalidInput("the packet carries no PDF attachment")


def _is_transient(report: VerificationReport) -> bool:
    return any(s.indication is Indication.INDETERMINATE and s.sub_indication in TRANSIENT_SUB_INDICATIONS
               for s in report.signatures)


# -- receiving ----------------------------------------------------------------------------------

def receive(session: Session, settings: Settings, delivery_id: int) -> Outcome:
    """The recipient's side of a delivery: verify, file in the inbox, answer 01 or 02.

    Safe to run any number of times for the same delivery: only the first run that finds it queued
    does anything.
    """
    delivery = session.get(Delivery, delivery_id, options=[
        joinedload(Delivery.exchange).joinedload(Exchange.sender), joinedload(Delivery.recipient)])
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    if delivery.state != DeliveryState.QUEUED.value:
        log.info("delivery %s already handled (%s): duplicate message ignored", delivery.id, delivery.state)
        return Outcome(delivery.id, delivery.state, "already handled")
    exchange = delivery.exchange
    store = BlobStore(settings.blob_dir)
    assert exchange.packet_sha256 is not None
    packet = edxml.parse_document_packet(store.read_bytes(exchange.packet_sha256),
                                         max_bytes=_max_packet_bytes(settings))
    if delivery.recipient.code not in {o.organ_id for o in packet.message_header.to}:
        return _reject(session, settings, store, delivery, packet,
                       [f"the packet is not addressed to {delivery.recipient.code}"])
    try:
        pdf = _pdf_attachment(packet)
        report = RECEIPT_VERDICTS.verify(settings, pdf)
    except DocsignError as exc:
        if exc.retryable:
            raise
        return _reject(session, settings, store, delivery, packet, [exc.message])
    if _is_transient(report):
        from docsign.errors import ServiceUnavailable

        raise ServiceUnavailable("revocation status cannot be checked yet (TRY_LATER); the delivery will be retried")
    problems = seal_problems(session, report, exchange.sender)
    if problems:
        return _reject(session, settings, store, delivery, packet, problems)
    if not _claim(session, delivery, StatusCode.ARRIVED):
        return Outcome(delivery.id, delivery.state, "already handled")
    header = packet.message_header
    inbox = Document(agency=delivery.recipient, origin=DocumentOrigin.RECEIVED, title=header.subject,
                     document_type=header.document_type.type_name, code_number=header.code.code_number,
                     code_notation=header.code.code_notation,
                     promulgation_date=header.promulgation_info.promulgation_date,
                     received_via_delivery_id=delivery.id)
    blob_key = report.document.sha256
    if not store.exists(blob_key):  # the sender's copy, when both sides share a store: same bytes, same key
        blob_key = store.put_bytes(pdf).key
    inbox.revisions.append(DocumentRevision(number=1, sha256=blob_key, size=len(pdf), action="receive"))
    session.add(inbox)
    # One flush writes the inbox document (whose unique received_via_delivery_id makes a second inbox
    # entry impossible) and the 01 event, before the audit append.
    event = _status_event(session, store, delivery, packet, StatusCode.ARRIVED, delivery.recipient,
                          "Văn bản đã đến, chữ ký số hợp lệ / Arrived, signatures valid")
    mail.on_receipt(session, settings, event)
    audit.record(session, f"agency:{delivery.recipient.code}", "exchange.receive",
                 agency_id=delivery.recipient_agency_id, object_type="delivery", object_id=delivery.id,
                 details={"exchange": exchange.id})
    return Outcome(delivery.id, DeliveryState.DELIVERED.value, "arrived")


def _claim(session: Session, delivery: Delivery, code: StatusCode) -> bool:
    """Move a queued delivery on with a conditional UPDATE; False when another run got there first."""
    target = next_state(delivery.state, code, by=Party.RECEIVER)
    now = utcnow()
    result = session.execute(update(Delivery).where(Delivery.id == delivery.id, Delivery.state == delivery.state)
                             .values(state=target.value, updated_at=now)
                             .execution_options(synchronize_session=False))  # set below, without a query
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(delivery)
        return False
    set_committed_value(delivery, "state", target.value)  # what the UPDATE wrote; no need to read it back
    set_committed_value(delivery, "updated_at", now)
    return True


def _reject(session: Session, settings: Settings, store: BlobStore, delivery: Delivery,
            packet: edxml.DocumentPacket, reasons: list[str]) -> Outcome:
    if not _claim(session, delivery, StatusCode.REJECTED):
        return Outcome(delivery.id, delivery.state, "already handled")
    description = "Từ chối tiếp nhận / Rejected: " + "; ".join(reasons)
    event = _status_event(session, store, delivery, packet, StatusCode.REJECTED, delivery.recipient, description[:2000])
    mail.on_receipt(session, settings, event)
    audit.record(session, f"agency:{delivery.recipient.code}", "exchange.reject",
                 agency_id=delivery.recipient_agency_id, object_type="delivery", object_id=delivery.id,
                 details={"reasons": reasons})
    log.info("delivery %s rejected: %s", delivery.id, "; ".join(reasons))
    return Outcome(delivery.id, DeliveryState.REJECTED.value, "; ".join(reasons))


def _status_event(session: Session, store: BlobStore, delivery: Delivery, packet: edxml.DocumentPacket,
                  code: StatusCode, by: Agency, description: str, staff: str | None = None) -> StatusEvent:
    status = edxml.status_packet_for(packet, organization(by), code, description=description[:500],
                                     staff_info=edxml.StaffInfo(staff=staff or ""))
    blob = store.put_bytes(edxml.build_status_packet(status))
    event = StatusEvent(delivery=delivery, code=code.value, state=delivery.state, description=description,
                        actor_agency_id=by.id, staff=staff, packet_sha256=blob.key)
    session.add(event)
    session.flush()
    other = delivery.exchange.sender if by.id == delivery.recipient_agency_id else delivery.recipient
    _enqueue(session, STATUS_TASK, other.code, status_event_id=event.id)
    return event


def status_reached(session: Session, settings: Settings, status_event_ids: Sequence[int]) -> int:
    """The other side has these status packets: read each and note when it arrived (idempotent).

    The relay sends the status packets waiting for one agency together (:func:`publish_outbox`), so
    they are taken in here in one transaction. A packet that cannot be read or answers another
    document is logged and left unanswered (the relay's sweeper offers it again a bounded number of
    times); the others are recorded. Returns how many were newly recorded."""
    events = session.scalars(select(StatusEvent).where(StatusEvent.id.in_(status_event_ids))
                             .options(joinedload(StatusEvent.delivery).joinedload(Delivery.exchange))).all()
    for missing in sorted(set(status_event_ids) - {e.id for e in events}):
        log.error("status event %s does not exist: message ignored", missing)
    store = BlobStore(settings.blob_dir)
    now = utcnow()
    recorded = 0
    for event in events:
        if event.received_at is not None:
            continue
        if event.packet_sha256:
            try:
                packet = edxml.parse_status_packet(store.read_bytes(event.packet_sha256))
            except DocsignError as exc:
                log.error("status packet %s cannot be read: %s", event.id, exc.message)
                continue
            if packet.response_for.document_id != event.delivery.exchange.edxml_document_id:
                log.error("status packet %s answers another document: not recorded", event.id)
                continue
        event.received_at = now
        mail.on_status(session, settings, event)
        recorded += 1
    return recorded


def record_status(session: Session, settings: Settings, delivery_id: int, code: str, *, by_agency_code: str,
                  actor: str, staff: str | None = None, description: str | None = None) -> StatusEvent:
    """A person moves a delivery on: the recipient 03-06 or 15/16, the sender 13 (recall)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    by = get_agency(session, by_agency_code)
    if by.id == delivery.recipient_agency_id:
        party = Party.RECEIVER
    elif by.id == delivery.exchange.sender_agency_id:
        party = Party.SENDER
    else:
        raise PermissionDenied(f"{by.code} is neither the sender nor the recipient of this delivery")
    status = StatusCode.parse(code)
    if status in (StatusCode.ARRIVED, StatusCode.REJECTED) and delivery.state == DeliveryState.QUEUED.value:
        raise Conflict("01 and 02 are given by the receiving system when the document arrives")
    target = next_state(delivery.state, status, by=party, before_recall=delivery.before_recall)
    if status is StatusCode.RECALL_REQUESTED:
        delivery.before_recall = delivery.state
    elif status in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED):
        delivery.before_recall = None
    delivery.state = target.value
    session.flush()
    store = BlobStore(settings.blob_dir)
    assert delivery.exchange.packet_sha256 is not None
    packet = edxml.parse_document_packet(store.read_bytes(delivery.exchange.packet_sha256),
                                         max_bytes=_max_packet_bytes(settings))
    text = description or f"{status.label_vi} / {status.label_en}"
    event = _status_event(session, store, delivery, packet, status, by, text, staff)
    audit.record(session, actor, f"exchange.status.{status.value}", agency_id=by.id, object_type="delivery",
                 object_id=delivery.id, details={"state": target.value})
    return event


# -- transport faults ---------------------------------------------------------------------------

def dead_letter(session: Session, delivery_id: int, reason: str) -> bool:
    """Give up on a delivery after its bounded attempts; an admin can re-drive it. False if not queued."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.state != DeliveryState.QUEUED.value:
        return False
    delivery.state = next_state(delivery.state, TransportEvent.DEAD_LETTER, by=Party.SYSTEM).value
    delivery.last_error = reason[:2000]
    session.add(StatusEvent(delivery=delivery, state=delivery.state, description=f"Gửi không thành công: {reason}"))
    audit.record(session, "system", "exchange.dead_letter", agency_id=delivery.exchange.sender_agency_id,
                 object_type="delivery", object_id=delivery.id, details={"reason": reason[:500]})
    return True


def redrive(session: Session, *, actor: str, delivery_ids: Sequence[int] | None = None) -> list[int]:
    """Put dead-lettered deliveries back on their queues (all of them, or those named)."""
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD_LETTER.value)
    if delivery_ids:
        query = query.where(Delivery.id.in_(delivery_ids))
    moved = []
    for delivery in session.scalars(query):
        delivery.state = next_state(delivery.state, TransportEvent.REDRIVE, by=Party.ADMIN).value
        delivery.attempts = 0
        session.add(StatusEvent(delivery=delivery, state=delivery.state, description="Gửi lại / Re-driven"))
        _enqueue(session, DELIVER_TASK, delivery.recipient.code, delivery_id=delivery.id)
        audit.record(session, actor, "exchange.redrive", agency_id=delivery.exchange.sender_agency_id,
                     object_type="delivery", object_id=delivery.id)
        moved.append(delivery.id)
    return moved


BATCHES = {DELIVER_TASK: ("delivery_id", "delivery_ids", 10), STATUS_TASK: ("status_event_id", "status_event_ids", 100)}
"""task → (the outbox row's key, the message's key, most rows per message): rows for the same task and
queue travel together. At most 10 deliveries a message keeps one message's work around a second."""


def publish_outbox(session: Session, publish: Callable[[str, str, dict[str, object]], None], limit: int = 500) -> int:
    """Publish unpublished outbox rows; stops at the first broker error (the rest wait).

    Under load, rows come in bursts: those for the same task and agency queue go out as one message
    (``delivery_ids``, ``status_event_ids``), so a worker takes a burst with one broker round trip and
    a sender records a burst of status packets in one transaction. Messages go out in the order of
    their first row. Returns how many rows were published."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.published_at.is_(None))
                           .order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)).all()
    open_batches: dict[tuple[str, str], list[OutboxMessage]] = {}
    batches: list[list[OutboxMessage]] = []
    for row in rows:
        key = (row.task_name, row.queue)
        batch = open_batches.get(key)
        if batch is None or row.task_name not in BATCHES or len(batch) >= BATCHES[row.task_name][2]:
            batch = open_batches[key] = []
            batches.append(batch)
        batch.append(row)
    sent = 0
    for batch in batches:
        first = batch[0]
        if first.task_name in BATCHES:
            row_key, message_key, _ = BATCHES[first.task_name]
            payload: dict[str, object] = {message_key: [int(r.payload[row_key]) for r in batch]}
        else:
            payload = dict(first.payload)
        try:
            publish(first.task_name, first.queue, payload)
        except Exception as exc:  # the broker's own error types vary by transport
            for row in batch:
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            break
        published_at = utcnow()
        for row in batch:
            row.published_at = published_at
        sent += len(batch)
    return sent


def requeue_stale(session: Session, *, older_than: dt.timedelta, max_attempts: int,
                  waiting: Callable[[str], int] | None = None) -> tuple[int, int]:
    """Publish again the deliveries still queued long after their message went out (a broker that lost
    it, a message parked on a dead worker); past ``max_attempts`` they are dead-lettered.

    ``waiting(queue)`` tells how many messages wait in a queue: while a recipient's queue is not empty,
    its old deliveries may simply be in line behind a backlog, and publishing them again would only
    feed the backlog (and dead-letter deliveries that were never lost), so they wait for the next sweep.
    Returns (requeued, dead-lettered)."""
    cutoff = utcnow() - older_than
    stale = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.QUEUED.value,
                                                   Delivery.updated_at < cutoff)
                            .order_by(Delivery.id).limit(1000).with_for_update(skip_locked=True)).all()
    if not stale or _outbox_backlog(session, cutoff):
        return 0, 0  # the relay cannot publish (broker down): waiting is not the recipient's fault
    in_line = _queues_in_line(waiting)
    requeued = dead = 0
    for delivery in stale:
        queue = agency_queue(delivery.recipient.code)
        if in_line(queue):
            continue
        delivery.attempts += 1
        delivery.updated_at = utcnow()
        if delivery.attempts > max_attempts:
            dead += dead_letter(session, delivery.id, f"no answer after {max_attempts} attempts")
            continue
        _enqueue(session, DELIVER_TASK, delivery.recipient.code, delivery_id=delivery.id)
        requeued += 1
    return requeued, dead


def requeue_unanswered_statuses(session: Session, *, older_than: dt.timedelta, max_attempts: int,
                                waiting: Callable[[str], int] | None = None) -> int:
    """Publish again the status packets (01, 02, 03-06, 13/15/16) the other side has not taken in long
    after they went out: a broker that lost them must not leave the sender without its 01. Each is
    published at most ``max_attempts`` times; returns how many were published again."""
    cutoff = utcnow() - older_than
    unanswered = session.scalars(select(StatusEvent).where(StatusEvent.received_at.is_(None),
                                                           StatusEvent.packet_sha256.is_not(None),
                                                           StatusEvent.created_at < cutoff)
                                 .order_by(StatusEvent.id).limit(1000)).all()
    if not unanswered or _outbox_backlog(session, cutoff):
        return 0
    # The outbox is the record of every publication of a status packet: how often, and when last.
    published: dict[int, list[dt.datetime]] = {e.id: [] for e in unanswered}
    rows = session.execute(select(OutboxMessage.payload, OutboxMessage.published_at, OutboxMessage.created_at)
                           .where(OutboxMessage.task_name == STATUS_TASK,
                                  OutboxMessage.created_at >= unanswered[0].created_at))
    for payload, published_at, created_at in rows:
        times = published.get(int(payload.get("status_event_id", 0)))
        if times is not None:
            times.append(published_at or created_at)
    in_line = _queues_in_line(waiting)
    again = 0
    for event in unanswered:
        times = published[event.id]
        if len(times) >= max_attempts or (times and max(times) >= cutoff):
            continue
        other = event.delivery.exchange.sender if event.actor_agency_id == event.delivery.recipient_agency_id \
            else event.delivery.recipient
        if in_line(agency_queue(other.code)):
            continue
        _enqueue(session, STATUS_TASK, other.code, status_event_id=event.id)
        again += 1
    return again


def _outbox_backlog(session: Session, cutoff: dt.datetime) -> bool:
    """Outbox rows older than ``cutoff`` still unpublished: the broker is unreachable."""
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.published_at.is_(None),
                                                         OutboxMessage.created_at < cutoff).limit(1)) is not None


def _queues_in_line(waiting: Callable[[str], int] | None) -> Callable[[str], bool]:
    """``queue -> True`` while messages wait in it (asked once per queue per sweep)."""
    depth: dict[str, bool] = {}

    def in_line(queue: str) -> bool:
        if waiting is None:
            return False
        if queue not in depth:
            depth[queue] = waiting(queue) > 0
        return depth[queue]

    return in_line


def read_packet(settings: Settings, exchange: Exchange) -> bytes:
    assert exchange.packet_sha256 is not None
    return BlobStore(settings.blob_dir).read_bytes(exchange.packet_sha256)


def pdf_path_bytes(path: Path, settings: Settings) -> bytes:
    """Read a PDF to send, refusing anything over the upload limit."""
    from docsign.errors import PayloadTooLarge

    try:
        size = path.stat().st_size
        if size > settings.max_upload_bytes:
            raise PayloadTooLarge(f"{path.name} is larger than DOCSIGN_MAX_UPLOAD_MB ({settings.max_upload_mb} MiB)")
        return path.read_bytes()
    except OSError as exc:
        raise NotFound(f"cannot read {path} ({exc.strerror})") from None
