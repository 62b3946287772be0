"""Sending: one transaction writes the exchange, a delivery per recipient, the edXML packet, the outbox
rows and an audit event; the relay publishes the outbox (docsign.exchange.outbox).

Functions take the session first and never commit: the caller's transaction decides."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docsign import audit, validation
from docsign.config import Settings
from docsign.documents import register
from docsign.errors import Conflict, InvalidInput, NotFound
from docsign.exchange import edxml, packet_seals
from docsign.exchange.directory import get_agency
from docsign.exchange.edxml.model import lenient_date as edxml_lenient_date
from docsign.exchange.outbox import DELIVER_TASK, enqueue
from docsign.exchange.statuses import DeliveryState
from docsign.exchange.verdicts import ISSUED_VERDICTS, pdf_attachment, seal_problems, verify
from docsign.models import (
    Agency,
    Delivery,
    Document,
    DocumentOrigin,
    DocumentRevision,
    Exchange,
    Signature,
    StatusEvent,
    User,
)
from docsign.storage import BlobStore
from docsign.verification.report import VerificationReport

VN_TZ = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True)
class SendRequest:
    sender_code: str
    recipient_codes: tuple[str, ...]
    subject: str
    """Trích yếu: what the document is about (≤500)."""
    file_name: str = "document.pdf"
    code_number: str | None = None
    """Số: checked against the outgoing register and the number the PDF prints; when neither this nor the
    PDF gives one, the register's next number (docsign.documents.register.numbering_for_sending)."""
    code_notation: str = "VP"
    """Ký hiệu, e.g. UBND-VP."""
    type_name: str = "Công văn"
    priority: int = 0
    due_date: dt.date | None = None
    business_type: int = 0
    """0 new document, 1 revocation, 2 update, 3 replacement."""
    related_document_id: str | None = None
    """For business types 1-3: the DocumentId being revoked, updated or replaced."""
    content: str = ""
    """Nội dung: a short summary beyond the subject (≤500)."""
    steering_type: int | None = None
    """1 not a directive, 2 directive, 3 report on a directive."""
    to_places: tuple[str, ...] = ()
    """Nơi nhận lines beyond the recipient agencies (e.g. "Lưu: VT")."""
    signer: edxml.SignerInfo | None = None
    """Who signed, when the caller knows (default: the document's approval, else the PDF's personal signature)."""

    def validated(self) -> SendRequest:
        """The request with its typed fields checked by the rules the web form uses (docsign.validation)."""
        from dataclasses import replace

        return replace(
            self,
            subject=validation.text(self.subject, "the subject (trích yếu)", max_length=500, required=True) or "",
            code_number=None if self.code_number is None else validation.document_number(self.code_number),
            code_notation=validation.notation(self.code_notation, required=True) or "",
            type_name=validation.text(self.type_name, "the document type", max_length=100, required=True) or "",
            priority=validation.whole_number(self.priority, "priority", low=0, high=4),
            file_name=validation.text(self.file_name, "the file name", max_length=200) or "document.pdf",
        )


def packet_fields(*, content: str | None = None, due_date: str | None = None, steering_type: str | None = None,
                  to_places: str | Sequence[str] | None = None) -> dict[str, Any]:
    """The optional edXML fields of a SendRequest from text as the CLI, the API and the web form give it:
    ``due_date`` yyyy-mm-dd (or dd/mm/yyyy), ``steering_type`` 1-3, ``to_places`` one place a line."""
    fields: dict[str, Any] = {}
    if content and content.strip():
        if len(content.strip()) > 500:
            raise InvalidInput("content (nội dung) has at most 500 characters")
        fields["content"] = content.strip()
    if due_date and due_date.strip():
        day = edxml_lenient_date(due_date.strip())
        if day is None:
            raise InvalidInput(f"due date {due_date!r} is not a date (yyyy-mm-dd)")
        fields["due_date"] = day
    if steering_type and steering_type.strip():
        if steering_type.strip() not in ("1", "2", "3"):
            raise InvalidInput("steering type is 1 (not a directive), 2 (directive) or 3 (report on a directive)")
        fields["steering_type"] = int(steering_type)
    lines = to_places.splitlines() if isinstance(to_places, str) else list(to_places or ())
    places = tuple(line.strip() for line in lines if line.strip())
    if any(len(place) > 150 for place in places):
        raise InvalidInput("a place (nơi nhận) has at most 150 characters")
    if places:
        fields["to_places"] = places
    return fields



def send(session: Session, settings: Settings, request: SendRequest, pdf: bytes, *, actor: str,
         created_by_id: int | None = None, document: Document | None = None) -> Exchange:
    """Send a sealed PDF to one or more agencies. Nothing is written unless everything checks out.

    ``document`` is the sender's document these bytes are the current revision of (the web UI's
    case); without it (a file from the command line or the API) a document is filed for them.
    """
    request = request.validated()
    sender = get_agency(session, request.sender_code)
    recipients = _recipients(session, sender, request.recipient_codes)
    report = ISSUED_VERDICTS.verify(settings, pdf)  # the verdict of its issue, when this install issued it
    problems = seal_problems(session, report, sender)
    if problems:
        raise InvalidInput("the document cannot be sent: " + "; ".join(problems))
    store = BlobStore(settings.blob_dir)
    # One number from one book: number, notation and date come from the outgoing register.
    numbering = register.numbering_for_sending(session, sender, pdf, document=document, number=request.code_number,
                                               notation=request.code_notation, subject=request.subject,
                                               type_name=request.type_name, created_by_id=created_by_id)
    number, notation, today = numbering.number, numbering.notation, numbering.issued_on
    document = document or numbering.document
    if document is None:
        document = Document(agency=sender, origin=DocumentOrigin.DRAFTED, title=request.subject,
                            document_type=request.type_name, code_number=number,
                            code_notation=notation, promulgation_date=today,
                            created_by_id=created_by_id)
        numbering.entry.document = document
    packet = edxml.DocumentPacket(
        message_header=edxml.MessageHeader(
            from_=organization(sender),
            to=tuple(organization(r) for r in recipients),
            document_id=edxml.make_document_id(sender.code, today, number, notation),
            code=edxml.Code(number, notation),
            promulgation_info=edxml.PromulgationInfo(_place(sender), today),
            document_type=edxml.DocumentType(2, request.type_name),
            subject=request.subject,
            content=request.content,
            signer_info=request.signer or _signer_info(session, document, report, sender),
            due_date=request.due_date,
            to_places=request.to_places,
            other_info=edxml.OtherInfo(priority=request.priority, page_amount=report.document.pages),
            steering_type=request.steering_type,
        ),
        trace_header_list=edxml.TraceHeaderList(
            trace_headers=(edxml.TraceHeader(sender.code, edxml.vn_now()),),
            business=edxml.Business(business_doc_type=request.business_type,
                                    document_id=request.related_document_id or ""),
        ),
        attachments=(edxml.Attachment.new(request.file_name, pdf),),
    )
    packet_bytes = edxml.build_document_packet(packet, max_bytes=max_packet_bytes(settings))
    packet_bytes = packet_seals.seal_outgoing(session, settings, sender, packet_bytes)
    return _record_exchange(session, store, packet, packet_bytes, document, sender, recipients, pdf,
                            request.business_type, actor, created_by_id)


def import_packet(session: Session, settings: Settings, data: bytes, *, actor: str) -> Exchange:
    """Take an edXML packet written elsewhere (another system, `exchange export`) and send it on as is."""
    packet = edxml.parse_document_packet(data, max_bytes=max_packet_bytes(settings))
    header = packet.message_header
    sender = get_agency(session, header.from_.organ_id)
    recipients = _recipients(session, sender, tuple(o.organ_id for o in header.to))
    pdf = pdf_attachment(packet)
    problems = seal_problems(session, verify(settings, pdf), sender)
    if problems:
        raise InvalidInput("the packet cannot be accepted: " + "; ".join(problems))
    document = Document(agency=sender, origin=DocumentOrigin.DRAFTED, title=header.subject,
                        document_type=header.document_type.type_name, code_number=header.code.code_number,
                        code_notation=header.code.code_notation,
                        promulgation_date=header.promulgation_info.promulgation_date)
    return _record_exchange(session, BlobStore(settings.blob_dir), packet, data, document, sender, recipients,
                            pdf, packet.trace_header_list.business.business_doc_type, actor, None)


def record_received(session: Session, settings: Settings, data: bytes, recipients: list[Agency], *,
                    actor: str) -> Exchange:
    """File a packet that came from outside (the national axis) for delivery to ``recipients`` of this
    installation: the same record and outbox as a send, so each delivery takes the one receive path
    (which verifies it and answers 01 or 02)."""
    packet = edxml.parse_document_packet(data, max_bytes=max_packet_bytes(settings))
    header = packet.message_header
    sender = get_agency(session, header.from_.organ_id)
    document = Document(agency=sender, origin=DocumentOrigin.DRAFTED, title=header.subject,
                        document_type=header.document_type.type_name, code_number=header.code.code_number,
                        code_notation=header.code.code_notation,
                        promulgation_date=header.promulgation_info.promulgation_date)
    return _record_exchange(session, BlobStore(settings.blob_dir), packet, data, document, sender, recipients,
                            pdf_attachment(packet), packet.trace_header_list.business.business_doc_type, actor, None)


def _record_exchange(session: Session, store: BlobStore, packet: edxml.DocumentPacket, packet_bytes: bytes,
                     document: Document, sender: Agency, recipients: list[Agency], pdf: bytes,
                     business_type: int, actor: str, created_by_id: int | None) -> Exchange:
    header = packet.message_header
    named = edxml.document_id_agency(header.document_id)
    if named is not None and named not in (sender.code.upper(), header.from_.organ_id.strip().upper()):
        # A DocumentId is the sender's name for its document: one agency cannot write another's.
        raise InvalidInput(f"the DocumentId {header.document_id} names agency {named}, not the sender "
                           f"{header.from_.organ_id}")
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
        # (from the header: the failed flush expired the session's objects)
        raise Conflict(f"DocumentId {header.document_id} was already sent as a new document by "
                       f"{header.from_.organ_id}; send an update (BussinessDocType 2) or use another number") from None
    deliveries = [Delivery(exchange=exchange, recipient=recipient, state=DeliveryState.QUEUED)
                  for recipient in recipients]
    session.add_all(deliveries)
    session.flush()  # one INSERT ... RETURNING for all of them: the outbox rows need their ids
    for delivery in deliveries:
        # set from the event's side: appending to delivery.events would first load the (empty) collection
        session.add(StatusEvent(delivery=delivery, state=DeliveryState.QUEUED.value, actor_agency_id=sender.id,
                                description="Đã gửi / Sent"))
        enqueue(session, DELIVER_TASK, delivery.recipient, delivery_id=delivery.id)
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


def _signer_info(session: Session, document: Document, report: VerificationReport,
                 sender: Agency) -> edxml.SignerInfo:
    # The approval (ký duyệt) docsign made knows the leader's position and TM./KT. line as signed.
    if document.id is not None:
        approval = session.execute(
            select(Signature, User).join(DocumentRevision, Signature.revision_id == DocumentRevision.id)
            .outerjoin(User, Signature.user_id == User.id)
            .where(DocumentRevision.document_id == document.id, Signature.role == "approve")
            .order_by(Signature.id.desc()).limit(1)).first()
        if approval is not None:
            signature, user = approval
            return edxml.SignerInfo(competence=(signature.signing_prefix or "")[:100],
                                    position=(signature.position or (user.position if user else "") or "")[:100],
                                    full_name=((user.full_name if user else signature.signer_common_name) or "")[:50])
    # Else the leader's personal signature is the one whose organisation is the agency but whose name is a person's.
    for sig in report.signatures:
        if sig.signer and sig.signer.common_name and sig.signer.common_name != sender.name:
            return edxml.SignerInfo(full_name=sig.signer.common_name[:50])
    return edxml.SignerInfo()


def max_packet_bytes(settings: Settings) -> int:
    # base64 grows the PDF by a third; leave room for the envelope.
    return settings.max_upload_bytes * 4 // 3 + 1024 * 1024


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
