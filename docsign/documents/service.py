"""An agency's documents as people handle them: upload a draft, the leader approves it (personal
signature), the clerk issues it (number, date and the agency seal) and sends it; the recipient's
people register it and report progress; the sender can recall it.

Every function takes the session first and an :class:`Actor` (the person acting), checks the actor's
role and scopes every query by the actor's agency: another agency's document, delivery or exchange
is "not found" (404), never shown; an action the actor's role does not allow is "permission denied"
(403). Functions never commit: the caller's transaction decides. Each action is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from asn1crypto import x509 as asn1_x509
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from docsign import audit, validation
from docsign.config import Settings
from docsign.documents import citizen, register
from docsign.documents.errors import SigningRefused, WrongStage
from docsign.errors import Conflict, DocsignError, InvalidInput, NotFound, PermissionDenied, UnsupportedMediaType
from docsign.exchange import service as exchange_service
from docsign.exchange.statuses import SENT_BY, DeliveryState, Party, StatusCode, allowed_events
from docsign.i18n import N_, english
from docsign.ltv import service as ltv
from docsign.models import (
    Agency,
    ArrivalEntry,
    BookKind,
    Delivery,
    Document,
    DocumentOrigin,
    DocumentRevision,
    Exchange,
    KeyKind,
    KeyRef,
    Role,
    Signature,
    StatusEvent,
    User,
)
from docsign.pki.keys import key_spec_for, load_key
from docsign.signing.errors import KeyNotFound
from docsign.signing.request import Level, SignRequest
from docsign.signing.request import Role as SignRole
from docsign.signing.service import sign_pdf
from docsign.storage import BlobStore
from docsign.verification.report import VerificationReport

log = logging.getLogger(__name__)
VN_TZ = dt.timezone(dt.timedelta(hours=7))
PDF_MAGIC = b"%PDF-"
NOT_IN_INBOX = (DeliveryState.QUEUED.value, DeliveryState.DEAD_LETTER.value)
"""Delivery states the recipient does not see yet: the document has not arrived."""


# -- who acts, and what each role may do ---------------------------------------------------------

@dataclass(frozen=True)
class Actor:
    """The person acting, as the web layer (or any other face) identified them."""

    user_id: int
    login: str
    full_name: str
    role: str
    """A :class:`docsign.models.Role` value."""
    agency_id: int
    agency_code: str
    position: str | None = None

    @property
    def audit_name(self) -> str:
        return f"user:{self.login}"


class Action(StrEnum):
    UPLOAD = "upload"
    APPROVE = "approve"
    ISSUE = "issue"
    SEND = "send"
    REGISTER = "register"
    """Answer for the receiving side: accept (03), return (02), answer a recall (15/16)."""
    PROGRESS = "progress"
    """Report handling of an accepted document (04/05/06)."""
    RECALL = "recall"
    ASSIGN = "assign"
    """Write who handles an arrival and by when into the arrivals register."""


PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.UPLOAD: frozenset({Role.CLERK}),
    Action.APPROVE: frozenset({Role.LEADER}),
    Action.ISSUE: frozenset({Role.CLERK}),
    Action.SEND: frozenset({Role.CLERK}),
    Action.REGISTER: frozenset({Role.CLERK}),
    Action.PROGRESS: frozenset({Role.CLERK, Role.OFFICER}),
    Action.RECALL: frozenset({Role.CLERK}),
    Action.ASSIGN: frozenset({Role.CLERK, Role.LEADER}),
}
"""Who may do what, within their own agency. Everyone of an agency (admins too) may read its documents."""

STATUS_ACTION: dict[StatusCode, Action] = {
    StatusCode.REJECTED: Action.REGISTER,
    StatusCode.ACCEPTED: Action.REGISTER,
    StatusCode.ASSIGNED: Action.PROGRESS,
    StatusCode.PROCESSING: Action.PROGRESS,
    StatusCode.FINISHED: Action.PROGRESS,
    StatusCode.RECALL_REQUESTED: Action.RECALL,
    StatusCode.RECALL_AGREED: Action.REGISTER,
    StatusCode.RECALL_REFUSED: Action.REGISTER,
}
"""Which permission a person needs to give each status code (01 is given by the receiving system)."""


def can(actor: Actor, action: Action) -> bool:
    return Role(actor.role) in PERMISSIONS[action]


def require(actor: Actor, action: Action) -> None:
    if not can(actor, action):
        allowed = ", ".join(sorted(r.value for r in PERMISSIONS[action]))
        raise PermissionDenied(f"{action.value} is done by a {allowed} of the agency, not by a {actor.role}")


# -- stages of an outgoing document ---------------------------------------------------------------

class Stage(StrEnum):
    DRAFT = "draft"
    """Uploaded, waiting for the leader's approval (ký duyệt)."""
    APPROVED = "approved"
    """Signed by the leader, waiting for the clerk to issue it (ký phát hành)."""
    ISSUED = "issued"
    """Numbered and sealed, ready to send."""
    SENT = "sent"
    RECEIVED = "received"
    """Arrived from another agency (văn bản đến)."""

    @property
    def label_vi(self) -> str:
        return _STAGE_LABELS[self]

    @property
    def label_en(self) -> str:
        return english(self.label_vi)


_STAGE_LABELS = {
    Stage.DRAFT: N_("Chờ ký duyệt"),
    Stage.APPROVED: N_("Chờ phát hành"),
    Stage.ISSUED: N_("Chờ gửi"),
    Stage.SENT: N_("Đã gửi"),
    Stage.RECEIVED: N_("Văn bản đến"),
}


def stage_of(document: Document, sent: bool) -> Stage:
    """The step an outgoing document is at, from its revisions (and whether an exchange carries it)."""
    if document.origin is DocumentOrigin.RECEIVED:
        return Stage.RECEIVED
    if sent:
        return Stage.SENT
    actions = {r.action for r in document.revisions}
    if "issue" in actions:
        return Stage.ISSUED
    if "approve" in actions:
        return Stage.APPROVED
    return Stage.DRAFT


def document_stage(session: Session, document: Document) -> Stage:
    return stage_of(document, exchange_of(session, document) is not None)


def exchange_of(session: Session, document: Document) -> Exchange | None:
    """The exchange that sent this (outgoing) document, if any."""
    return session.scalar(select(Exchange).where(Exchange.document_id == document.id)
                          .order_by(Exchange.created_at).limit(1))


# -- reading, always scoped by the actor's agency -------------------------------------------------

def get_document(session: Session, actor: Actor, document_id: int) -> Document:
    document = session.scalar(select(Document).where(Document.id == document_id,
                                                     Document.agency_id == actor.agency_id))
    if document is None:
        raise NotFound(f"document {document_id} does not exist in your agency")
    return document


@dataclass(frozen=True)
class DocumentRow:
    document: Document
    stage: Stage
    exchange_id: str | None


def list_documents(session: Session, actor: Actor, stages: Sequence[Stage] | None = None) -> list[DocumentRow]:
    """The agency's outgoing documents (văn bản đi, from draft to sent), newest first."""
    sent = dict(session.execute(select(Exchange.document_id, Exchange.id)
                                .where(Exchange.sender_agency_id == actor.agency_id)).all())
    documents = session.scalars(select(Document).options(selectinload(Document.revisions))
                                .where(Document.agency_id == actor.agency_id,
                                       Document.origin == DocumentOrigin.DRAFTED)
                                .order_by(Document.id.desc())).all()
    rows = [DocumentRow(d, stage_of(d, d.id in sent), sent.get(d.id)) for d in documents]
    return [r for r in rows if stages is None or r.stage in stages]


def open_revision(session: Session, settings: Settings, actor: Actor, document_id: int,
                  number: int | None = None) -> tuple[Document, DocumentRevision, bytes]:
    """The verified bytes of a revision (the current one by default); the download is audited."""
    document = get_document(session, actor, document_id)
    revision = _revision(document, number)
    data = BlobStore(settings.blob_dir).read_bytes(revision.sha256)
    audit.record(session, actor.audit_name, "document.download", agency_id=actor.agency_id, object_type="document",
                 object_id=document.id, details={"revision": revision.number, "sha256": revision.sha256})
    return document, revision, data


def _revision(document: Document, number: int | None) -> DocumentRevision:
    if number is None:
        if document.current is None:
            raise NotFound(f"document {document.id} has no file")
        return document.current
    for revision in document.revisions:
        if revision.number == number:
            return revision
    raise NotFound(f"document {document.id} has no revision {number}")


@dataclass(frozen=True)
class SignatureCheck:
    """The signatures of a document's current revision as checked now."""

    report: VerificationReport | None
    """The verification report; None when there is no file or it cannot be read."""
    error: str | None = None
    """Why the file could not be verified at all (not a readable PDF, too complex...)."""


def check_signatures(session: Session, settings: Settings, actor: Actor, document_id: int) -> SignatureCheck:
    """Verify every signature of the current revision now (bounded in time and memory, like any upload)."""
    from docsign.verification import verify

    document = get_document(session, actor, document_id)
    if document.current is None:
        return SignatureCheck(None)
    data = BlobStore(settings.blob_dir).read_bytes(document.current.sha256)
    try:
        return SignatureCheck(verify(data, settings))
    except DocsignError as exc:
        if exc.retryable:
            raise
        return SignatureCheck(None, exc.message)


def signatures_of(session: Session, document: Document) -> list[tuple[Signature, DocumentRevision, User | None]]:
    """The signatures docsign applied to this document, oldest first, with the person who signed."""
    rows = session.execute(select(Signature, DocumentRevision, User)
                           .join(DocumentRevision, Signature.revision_id == DocumentRevision.id)
                           .outerjoin(User, Signature.user_id == User.id)
                           .where(DocumentRevision.document_id == document.id)
                           .order_by(DocumentRevision.number)).all()
    return list(rows)


# -- upload ------------------------------------------------------------------------------------------

class _Prefixed:
    """A stream whose first bytes were already read (to check the file type) and are handed out again."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def upload_document(session: Session, settings: Settings, actor: Actor, stream: BinaryIO, *, title: str,
                    document_type: str | None = None, notation: str | None = None,
                    file_name: str | None = None) -> Document:
    """A clerk's new draft: the PDF goes to the blob store (size-limited, type-checked) as revision 1."""
    require(actor, Action.UPLOAD)
    # A title with control characters could never be sent (edXML refuses it): refused here, at the door.
    title = validation.text(title, "the subject (trích yếu)", max_length=500, required=True) or ""
    document_type = validation.text(document_type, "the document type", max_length=100)
    notation = validation.notation(notation)
    head = stream.read(len(PDF_MAGIC))
    if head != PDF_MAGIC:
        raise UnsupportedMediaType("the file is not a PDF: a PDF starts with %PDF-; save the document as PDF "
                                   "and upload that file")
    blob = BlobStore(settings.blob_dir).put_stream(_Prefixed(head, stream), max_bytes=settings.max_upload_bytes)
    document = Document(agency_id=actor.agency_id, origin=DocumentOrigin.DRAFTED, title=title,
                        document_type=document_type, code_notation=notation, created_by_id=actor.user_id)
    document.revisions.append(DocumentRevision(number=1, sha256=blob.key, size=blob.size, action="upload",
                                               created_by_id=actor.user_id))
    session.add(document)
    session.flush()
    audit.record(session, actor.audit_name, "document.upload", agency_id=actor.agency_id, object_type="document",
                 object_id=document.id, details={"sha256": blob.key, "size": blob.size,
                                                 "file_name": (file_name or "")[:200]})
    return document


# -- signing -----------------------------------------------------------------------------------------

def approve_document(session: Session, settings: Settings, actor: Actor, document_id: int, *,
                     level: str = "B-T", signing_prefix: str | None = None,
                     expected_revision: int | None = None) -> Signature:
    """The leader's personal signature (ký duyệt) with his registered key ``user:<login>``."""
    document = get_document(session, actor, document_id)  # another agency's document: 404 whatever the role
    require(actor, Action.APPROVE)
    _expect(session, document, {Stage.DRAFT}, "only a draft waiting for approval can be approved", expected_revision)
    prefix = validation.text(signing_prefix, "the signing authority line (TM., KT. ...)", max_length=100)
    request = SignRequest(level=_level(level), role=SignRole.APPROVE, tsa_url=settings.tsa_url,
                          signer_name=actor.full_name, position=actor.position, signing_prefix=prefix)
    return _sign(session, settings, actor, document, f"user:{actor.login}", KeyKind.PERSONAL, request, "approve")


def issue_document(session: Session, settings: Settings, actor: Actor, document_id: int, *,
                   number: str | None = None, notation: str, level: str = "B-T", book: str | None = None,
                   expected_revision: int | None = None, citizen_result: bool = False) -> Signature:
    """The clerk's issue (ký phát hành): the next number of the outgoing register and today's date filled
    in, then the agency seal ``agency:<code>``.

    The number is taken from the register in this transaction, before signing, and printed with the same
    value the register keeps; the book stays locked until the caller commits, so a concurrent issue waits
    for it, and a failed issue (the caller rolls back) gives its number back. ``number``, when given, is
    what the clerk expects the next number to be: another is refused. ``book``: "other" or "legal"."""
    document = get_document(session, actor, document_id)  # another agency's document: 404 whatever the role
    require(actor, Action.ISSUE)
    _expect(session, document, {Stage.APPROVED}, "only a document the leader approved can be issued",
            expected_revision)
    expected = int(validation.document_number(number)) if (number or "").strip() else None
    sign_level = _level(level)
    clean_notation = validation.notation(notation, required=True) or ""
    agency = session.get(Agency, actor.agency_id)
    assert agency is not None
    entry = register.take_number(session, actor.agency_id, kind=register.parse_kind(book), issued_on=register.today(),
                                 notation=clean_notation, subject=document.title, type_name=document.document_type,
                                 number=expected, document=document, signer=actor.full_name[:100],
                                 created_by_id=actor.user_id)
    token = citizen.new_token() if citizen_result else None
    request = SignRequest(level=sign_level, role=SignRole.ISSUE, tsa_url=settings.tsa_url,
                          number=entry.number_text, notation=clean_notation, date=entry.issued_on,
                          place=_place(agency), agency_name=agency.name,
                          verify_qr_url=citizen.verify_url(settings, token) if token else None)
    signature = _sign(session, settings, actor, document, f"agency:{actor.agency_code}", KeyKind.SEAL, request,
                      "issue")
    _record_issued_verdict(settings, document)
    document.code_number = entry.number_text
    document.code_notation = clean_notation
    document.promulgation_date = entry.issued_on
    document.citizen_token = token
    # Kept for long-term evidence like a received document: extended to B-LT once this issue is committed.
    ltv.track(session, document)
    return signature


def set_citizen_public(session: Session, actor: Actor, document_id: int, public: bool) -> Document:
    """The clerk lets the holder of a one-stop-shop result's QR download its PDF (or stops it)."""
    document = get_document(session, actor, document_id)
    require(actor, Action.ISSUE)
    citizen.set_public(session, document, public, actor=actor.audit_name)
    return document


def suggest_number(session: Session, actor: Actor, today: dt.date | None = None, book: str | None = None,
                   type_name: str | None = None) -> str:
    """The number the outgoing register would give next (Decree 30: numbers start at 01 each year)."""
    kind = register.parse_kind(book)
    series = register.series_for(kind, type_name) if kind is BookKind.LEGAL else ""
    return f"{register.next_number(session, actor.agency_id, kind, series, today):02d}"


def _level(value: str) -> Level:
    try:
        return Level(value)
    except ValueError:
        raise InvalidInput(f"unknown PAdES level {value!r}: use B-B, B-T, B-LT or B-LTA") from None


def _place(agency: Agency) -> str | None:
    """ "Hòa Bình" from an address ending in "..., tỉnh Hòa Bình" (the place before the date line)."""
    if not agency.address:
        return None
    last = agency.address.rsplit(",", 1)[-1].strip()
    for prefix in ("tỉnh ", "thành phố ", "huyện ", "quận ", "thị xã "):
        if last.lower().startswith(prefix):
            return last[len(prefix):].strip() or None
    return last or None


def _expect(session: Session, document: Document, stages: set[Stage], message: str,
            expected_revision: int | None) -> None:
    if document.origin is not DocumentOrigin.DRAFTED:
        raise WrongStage("a received document is signed on its arrival by the receiving system, not here")
    stage = document_stage(session, document)
    if stage not in stages:
        raise WrongStage(f"{message} (this one is {stage.label_en.lower()})")
    current = document.current
    if expected_revision is not None and current is not None and current.number != expected_revision:
        raise Conflict("the document changed since you opened it (someone else signed it); look at it again")


def _sign(session: Session, settings: Settings, actor: Actor, document: Document, keyref: str, kind: KeyKind,
          request: SignRequest, action: str) -> Signature:
    """Sign the current revision into a new one. Engine and key errors become :class:`SigningRefused`
    and leave nothing behind: no blob referenced, no revision, no signature row."""
    current = document.current
    assert current is not None
    store = BlobStore(settings.blob_dir)
    try:
        key_row = _key_row(session, actor, kind)
        handle = load_key(key_spec_for(session, keyref, settings))
        if key_row.image_blob:
            from dataclasses import replace

            request = replace(request, image=store.read_bytes(key_row.image_blob))
        tmp_root = settings.data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmp_root, prefix="sign-") as tmp:
            source, target = Path(tmp) / "in.pdf", Path(tmp) / "out.pdf"
            store.copy_to(current.sha256, source)
            result = sign_pdf(source, target, handle, request)
            blob = store.put_file(target)
    except DocsignError as exc:
        raise SigningRefused(exc) from exc
    except RecursionError:  # a PDF whose objects nest deeper than the parser's stack: unreadable input
        raise SigningRefused(InvalidInput("the PDF's objects are nested too deeply to be read; print it to a "
                                          "new PDF and upload that file")) from None
    cert = handle.certificate
    revision = DocumentRevision(number=current.number + 1, sha256=blob.key, size=blob.size, action=action,
                                created_by_id=actor.user_id)
    document.revisions.append(revision)
    signature = Signature(field_name=result.field_name, role=action, level=result.level.value,
                          signer_common_name=_common_name(cert)[:200], signer_serial=format(cert.serial_number, "x"),
                          key_ref_id=key_row.id, user_id=actor.user_id, signed_at=result.signing_time,
                          position=request.position, signing_prefix=request.signing_prefix)
    revision.signatures.append(signature)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("someone else signed this document at the same moment; look at it again") from None
    audit.record(session, actor.audit_name, f"document.{action}", agency_id=actor.agency_id, object_type="document",
                 object_id=document.id, details={"revision": revision.number, "sha256": blob.key, "key": keyref,
                                                 "level": result.level.value, "field": result.field_name,
                                                 "warnings": list(result.warnings)})
    signature.warnings = result.warnings  # not stored: shown to the signer once (the draft names someone else)
    return signature


def _record_issued_verdict(settings: Settings, document: Document) -> None:
    """Verify the issued revision once and keep the verdict: sending these bytes reuses it
    (:data:`docsign.exchange.verdicts.ISSUED_VERDICTS`). A verification that cannot run now only means
    the send verifies them itself."""
    from docsign.exchange.verdicts import record_issued

    assert document.current is not None
    try:
        record_issued(settings, BlobStore(settings.blob_dir).read_bytes(document.current.sha256))
    except DocsignError as exc:
        log.warning("document %s: the issued revision was not verified now (%s); its send will verify it",
                    document.id, exc.message)


def _key_row(session: Session, actor: Actor, kind: KeyKind) -> KeyRef:
    owner = KeyRef.agency_id == actor.agency_id if kind is KeyKind.SEAL else KeyRef.user_id == actor.user_id
    row = session.scalar(select(KeyRef).where(owner, KeyRef.kind == kind, KeyRef.active.is_(True))
                         .order_by(KeyRef.id.desc()).limit(1))
    if row is None:
        whose = "your agency has no registered seal key" if kind is KeyKind.SEAL else \
            "you have no registered personal signing key"
        raise KeyNotFound(f"{whose}; an administrator registers it")
    return row


def _common_name(cert: asn1_x509.Certificate) -> str:
    value = cert.subject.native.get("common_name")
    return (value[0] if isinstance(value, list) else value) or cert.subject.human_friendly


def record_refusal(session: Session, actor: Actor, action: str, document_id: int, error: DocsignError) -> None:
    """Audit an action that was refused (call after rolling back the action's own transaction)."""
    audit.record(session, actor.audit_name, f"document.{action}.refused", agency_id=actor.agency_id,
                 object_type="document", object_id=document_id,
                 details={"error": error.code, "message": error.message[:500]})


# -- sending -----------------------------------------------------------------------------------------

def recipients_for(session: Session, actor: Actor) -> list[Agency]:
    """The directory without the actor's own agency: where a document can go."""
    return list(session.scalars(select(Agency).where(Agency.id != actor.agency_id).order_by(Agency.code)))


def send_document(session: Session, settings: Settings, actor: Actor, document_id: int,
                  recipient_codes: Sequence[str], *, priority: int = 0,
                  packet_fields: dict[str, Any] | None = None) -> Exchange:
    """Send an issued document to one or more agencies (the exchange flow of design.md)."""
    document = get_document(session, actor, document_id)  # another agency's document: 404 whatever the role
    require(actor, Action.SEND)
    _expect(session, document, {Stage.ISSUED}, "only an issued document that was not sent yet can be sent", None)
    codes = [code.strip().upper() for code in recipient_codes if code.strip()]
    if not codes:
        raise InvalidInput("choose at least one recipient agency")
    known = {agency.code for agency in recipients_for(session, actor)}
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise InvalidInput(f"{', '.join(unknown)} is not another agency of the directory")
    if not 0 <= priority <= 4:
        raise InvalidInput("priority is between 0 and 4")
    current = document.current
    assert current is not None and document.code_number is not None
    pdf = BlobStore(settings.blob_dir).read_bytes(current.sha256)
    request = exchange_service.SendRequest(
        sender_code=actor.agency_code, recipient_codes=tuple(codes), subject=document.title,
        file_name=f"{document.code_number}-{document.code_notation or 'VB'}.pdf", code_number=document.code_number,
        code_notation=document.code_notation or "VP", type_name=document.document_type or "Công văn",
        priority=priority, **(packet_fields or {}))
    exchange = exchange_service.send(session, settings, request, pdf, actor=actor.audit_name,
                                     created_by_id=actor.user_id, document=document)
    audit.record(session, actor.audit_name, "document.send", agency_id=actor.agency_id, object_type="document",
                 object_id=document.id, details={"exchange": exchange.id,
                                                 "to": [d.recipient.code for d in exchange.deliveries]})
    return exchange


# -- the exchange, seen from each side --------------------------------------------------------------

def inbox(session: Session, actor: Actor) -> list[Delivery]:
    """Văn bản đến: what reached the agency (arrived, or returned because it did not verify), newest first."""
    return list(session.scalars(select(Delivery).options(selectinload(Delivery.exchange),
                                                         selectinload(Delivery.inbox_document))
                                .where(Delivery.recipient_agency_id == actor.agency_id,
                                       Delivery.state.not_in(NOT_IN_INBOX))
                                .order_by(Delivery.id.desc())))


def sent_exchanges(session: Session, actor: Actor) -> list[Exchange]:
    """Văn bản đi that left the agency, newest first, with their deliveries."""
    return list(session.scalars(select(Exchange).options(selectinload(Exchange.deliveries))
                                .where(Exchange.sender_agency_id == actor.agency_id)
                                .order_by(Exchange.created_at.desc(), Exchange.id)))


def get_incoming(session: Session, actor: Actor, delivery_id: int) -> Delivery:
    delivery = session.scalar(select(Delivery).where(Delivery.id == delivery_id,
                                                     Delivery.recipient_agency_id == actor.agency_id,
                                                     Delivery.state.not_in(NOT_IN_INBOX)))
    if delivery is None:
        raise NotFound(f"incoming document {delivery_id} does not exist in your agency's inbox")
    return delivery


def get_sent(session: Session, actor: Actor, exchange_id: str) -> Exchange:
    exchange = session.scalar(select(Exchange).where(Exchange.id == exchange_id,
                                                     Exchange.sender_agency_id == actor.agency_id))
    if exchange is None:
        raise NotFound(f"sent document {exchange_id} does not exist in your agency")
    return exchange


def incoming_for_document(session: Session, actor: Actor, document: Document) -> Delivery | None:
    if document.received_via_delivery_id is None or document.agency_id != actor.agency_id:
        return None
    return session.get(Delivery, document.received_via_delivery_id)


def party_of(actor: Actor, delivery: Delivery) -> Party | None:
    return delivery.party_of(actor.agency_id)


def status_choices(actor: Actor, delivery: Delivery) -> list[StatusCode]:
    """The status codes this person may give this delivery now (the buttons to show)."""
    party = party_of(actor, delivery)
    if party is None:
        return []
    if party is Party.RECEIVER and delivery.state in NOT_IN_INBOX:
        return []
    return [event for event in allowed_events(delivery.state)
            if isinstance(event, StatusCode) and event in STATUS_ACTION and SENT_BY[event] is party
            and can(actor, STATUS_ACTION[event])]


def change_status(session: Session, settings: Settings, actor: Actor, delivery_id: int, code: str,
                  *, note: str | None = None) -> StatusEvent:
    """A person of the sending or receiving agency moves a delivery on (03-06, 02, 13, 15, 16)."""
    delivery = session.get(Delivery, delivery_id)
    party = party_of(actor, delivery) if delivery is not None else None
    if delivery is None or party is None or (party is Party.RECEIVER and delivery.state in NOT_IN_INBOX):
        raise NotFound(f"delivery {delivery_id} does not exist in your agency")
    status = StatusCode.parse(code)
    action = STATUS_ACTION.get(status)
    if action is None:
        raise InvalidInput(f"status {status.value} is given by the receiving system, not by a person")
    if SENT_BY[status] is not party:
        side = "receiving" if party is Party.SENDER else "sending"
        raise PermissionDenied(f"status {status.value} ({status.label_en.lower()}) is given by the {side} agency")
    require(actor, action)
    note = validation.text(note, "the note", max_length=500, multiline=True)
    text = f"{status.label_vi} / {status.label_en}" + (f": {note}" if note else "")
    return exchange_service.record_status(session, settings, delivery.id, status.value,
                                          by_agency_code=actor.agency_code, actor=actor.audit_name,
                                          staff=actor.full_name[:100], description=text)


# -- the registers ---------------------------------------------------------------------------------

def assign_handling(session: Session, actor: Actor, entry_id: int, *, handling_unit: str | None,
                    due_date: dt.date | None) -> ArrivalEntry:
    """Who handles an arrival of the actor's agency, and by when (Decree 30 Art. 23.4)."""
    require(actor, Action.ASSIGN)
    entry = register.set_handling(session, actor.agency_id, entry_id, handling_unit=handling_unit, due_date=due_date)
    audit.record(session, actor.audit_name, "register.assign", agency_id=actor.agency_id,
                 object_type="register_arrival", object_id=entry.id,
                 details={"unit": entry.handling_unit, "due": str(entry.due_date or "")})
    return entry


def stamp_arrival(session: Session, settings: Settings, actor: Actor, document_id: int, *,
                  level: str = "B-T") -> Signature:
    """The optional "ĐẾN" stamp (role income) on a received document, with its arrival number and date from
    the arrivals register; the electronic arrival itself is the registration (Decree 30 Art. 22)."""
    document = get_document(session, actor, document_id)
    require(actor, Action.REGISTER)
    if document.origin is not DocumentOrigin.RECEIVED:
        raise WrongStage("only a received document gets the arrival stamp")
    if any(r.action == "income" for r in document.revisions):
        raise WrongStage("this document already carries its arrival stamp")
    entry = register.arrival_of(session, document.id)
    if entry is None or entry.number is None:
        what = "is a duplicate arrival and has no arrival number" if entry is not None else "is not in the register"
        raise InvalidInput(f"document {document.id} {what}")
    agency = session.get(Agency, actor.agency_id)
    assert agency is not None
    request = SignRequest(level=_level(level), role=SignRole.INCOME, tsa_url=settings.tsa_url,
                          number=entry.number_text, date=entry.arrived_on, agency_name=agency.name)
    return _sign(session, settings, actor, document, f"agency:{actor.agency_code}", KeyKind.SEAL, request, "income")


# -- the dashboard ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    awaiting_approval: int
    awaiting_issue: int
    ready_to_send: int
    inbox_new: int
    """Arrived and not yet accepted (01): the clerk's to-do."""
    inbox_open: int
    """Accepted and not finished."""
    sent: int
    recall_requests: int
    """Recalls (13) other agencies asked of this one, waiting for an answer."""


def counts(session: Session, actor: Actor) -> Counts:
    stages = [r.stage for r in list_documents(session, actor)]

    def incoming(*states: DeliveryState) -> int:
        return session.scalar(select(func.count(Delivery.id)).where(
            Delivery.recipient_agency_id == actor.agency_id, Delivery.state.in_([s.value for s in states]))) or 0

    return Counts(
        awaiting_approval=stages.count(Stage.DRAFT), awaiting_issue=stages.count(Stage.APPROVED),
        ready_to_send=stages.count(Stage.ISSUED),
        inbox_new=incoming(DeliveryState.DELIVERED),
        inbox_open=incoming(DeliveryState.ACCEPTED, DeliveryState.ASSIGNED, DeliveryState.PROCESSING),
        sent=session.scalar(select(func.count(Exchange.id)).where(Exchange.sender_agency_id == actor.agency_id)) or 0,
        recall_requests=incoming(DeliveryState.RECALL_REQUESTED),
    )
