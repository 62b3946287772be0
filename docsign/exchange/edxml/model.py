"""The edXML packet model (QCVN 102:2016): frozen dataclasses for both kinds of packet, the field order
of the official sample and the VNPT/.NET SDKs, and the date and timestamp formats."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from docsign.exchange.statuses import StatusCode

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
VN_TZ = timezone(timedelta(hours=7), "+07:00")

DEFAULT_MAX_PACKET_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ATTACHMENTS = 100
# libxml2 without huge_tree refuses text nodes over 10,000,000 characters; base64 turns 3 bytes into 4.
MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS = 7_500_000

Extra = tuple[str, ...]
"""Child elements docsign does not act on, kept as XML text in the order read and written back after
the known ones: a packet read and written again loses nothing (round trip)."""

DATE_FORMAT = "%Y/%m/%d"
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
LENIENT_DATES = (DATE_FORMAT, "%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y")
LENIENT_TIMESTAMPS = (TIMESTAMP_FORMAT, "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S")


@dataclass(frozen=True)
class Organization:
    """``From`` or ``To``: an agency. Empty strings stand for empty or missing elements."""

    organ_id: str
    """QCVN 102 agency code, ``XXX.YY.ZZ.Mnn``."""
    organ_name: str = ""
    organization_in_charge: str = ""
    """Name of the managing body (cơ quan chủ quản); Bkav writes it ``OrganInCharge``."""
    organ_add: str = ""
    """Postal address."""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""
    extra: Extra = ()


@dataclass(frozen=True)
class Code:
    code_number: str
    """Document number, e.g. ``05`` (số)."""
    code_notation: str
    """Symbol, e.g. ``UBND-VP`` (ký hiệu)."""
    extra: Extra = ()


@dataclass(frozen=True)
class PromulgationInfo:
    place: str
    """Place name printed in the header, e.g. ``Hòa Bình``."""
    promulgation_date: date
    extra: Extra = ()


@dataclass(frozen=True)
class DocumentType:
    type: int
    """Sources disagree on the values (1/2 at Bkav, 18 for a công văn elsewhere)."""
    type_name: str = ""
    """E.g. ``Công văn``, ``Quyết định``."""
    extra: Extra = ()


@dataclass(frozen=True)
class SignerInfo:
    competence: str = ""
    """Authority prefix: ``TM.``, ``KT.``, ``TL.``, ``TUQ.``, ``Q.`` or empty."""
    position: str = ""
    full_name: str = ""
    extra: Extra = ()


@dataclass(frozen=True)
class OtherInfo:
    priority: int = 0
    """0 normal, 1 khẩn, 2 thượng khẩn, 3 hỏa tốc, 4 hỏa tốc hẹn giờ."""
    sphere_of_promulgation: str = ""
    typer_notation: str = ""
    """Initials of the drafter."""
    promulgation_amount: int | None = None
    """Number of copies issued."""
    page_amount: int | None = None
    appendixes: tuple[str, ...] = ()
    """Names of the appendices."""
    extra: Extra = ()
    """E.g. ``Direction``, ``ReplyFors``, ``ReferenceCodes`` of the VNPT library."""


@dataclass(frozen=True)
class ResponseFor:
    """The document a packet answers (in a MessageHeader) or a status reports on (in a Status)."""

    organ_id: str
    """The original sender's agency code."""
    code: str
    """``number/notation`` of the original document, e.g. ``7816/VPCP-TTĐT``."""
    promulgation_date: date | None
    document_id: str


@dataclass(frozen=True)
class MessageHeader:
    from_: Organization
    """The sender (XML ``From``)."""
    to: tuple[Organization, ...]
    """The main recipients, at least one, no agency twice."""
    document_id: str
    """``<sender OrganId>,<yyyy/MM/dd>,<number>/<notation>``; see :func:`make_document_id`."""
    code: Code
    promulgation_info: PromulgationInfo
    document_type: DocumentType
    subject: str
    """The abstract (trích yếu)."""
    content: str = ""
    signer_info: SignerInfo = SignerInfo()
    due_date: date | None = None
    to_places: tuple[str, ...] = ()
    """Free-text "Nơi nhận" lines beyond the main recipients."""
    other_info: OtherInfo = OtherInfo()
    steering_type: int | None = None
    """1 not a directive, 2 directive, 3 report on a directive (per one SDK)."""
    response_for: tuple[ResponseFor, ...] = ()
    extra: Extra = ()
    """E.g. ``ApplicationType``, ``ResponseForTask`` of the VNPT library."""


@dataclass(frozen=True)
class TraceHeader:
    organ_id: str
    timestamp: datetime
    """Time zone aware; written in +07:00 to the second."""
    extra: Extra = ()


@dataclass(frozen=True)
class StaffInfo:
    department: str = ""
    staff: str = ""
    mobile: str = ""
    email: str = ""
    extra: Extra = ()
    """E.g. ``DepartmentId``, ``StaffId`` of the VNPT library."""


@dataclass(frozen=True)
class ReplacementInfo:
    """For a replacement (3): a document replaced and the agencies that received it."""

    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receiver:
    organ_id: str
    receiver_type: str = ""
    """1 main recipient, 0 for information (as the VNPT samples use it)."""


@dataclass(frozen=True)
class BusinessDocumentInfo:
    """For an update (2): what changed (``DocumentInfo`` metadata, ``DocumentReceiver`` recipients: 1 yes) and
    the new list of recipients."""

    document_info: str = ""
    document_receiver: str = ""
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True)
class Business:
    """XML ``Bussiness`` (that spelling on the wire): what the packet does to the document."""

    business_doc_type: int = 0
    """0 new document, 1 revocation, 2 update, 3 replacement."""
    business_doc_reason: str = ""
    document_id: str = ""
    """For 1-3: the DocumentId of the document revoked, updated or replaced."""
    paper: int = 0
    """0: no paper copy follows."""
    staff_info: StaffInfo = StaffInfo()
    document_info: BusinessDocumentInfo | None = None
    """``BussinessDocumentInfo`` (with its ``ReceiverList``), written by updates."""
    replacements: tuple[ReplacementInfo, ...] = ()
    """``ReplacementInfoList``, written by replacements."""
    extra: Extra = ()

    def related_document_ids(self, own_document_id: str) -> tuple[str, ...]:
        """The DocumentIds a revocation, update or replacement acts on: ``DocumentId`` here, else those of
        ``ReplacementInfoList``, else (as the VNPT samples of a revocation do) the packet's own DocumentId."""
        if self.business_doc_type == 0:
            return ()
        if self.document_id.strip():
            return (self.document_id.strip(),)
        replaced = tuple(r.document_id.strip() for r in self.replacements if r.document_id.strip())
        return replaced or (own_document_id,)


@dataclass(frozen=True)
class TraceHeaderList:
    trace_headers: tuple[TraceHeader, ...] = ()
    """One entry per hop."""
    business: Business = Business()
    extra: Extra = ()


@dataclass(frozen=True)
class Attachment:
    content_id: str
    """A UUID, without the ``cid:`` prefix the manifest adds."""
    attachment_name: str
    content_type: str
    data: bytes = field(repr=False)
    description: str = ""
    extra: Extra = ()
    manifest_content_type: str = ""
    """The type the manifest lists when it is not ``content_type`` (the VNPT library zips files: the manifest
    says text/plain, the attachment application/zip)."""

    @classmethod
    def new(cls, name: str, data: bytes, content_type: str = "application/pdf", description: str = "") -> Attachment:
        """An attachment with a fresh UUID."""
        return cls(str(uuid.uuid4()), name, content_type, data, description)


@dataclass(frozen=True)
class DocumentPacket:
    message_header: MessageHeader
    trace_header_list: TraceHeaderList = TraceHeaderList()
    attachments: tuple[Attachment, ...] = ()
    signature: str = ""
    """The packet's XML-DSig ``Signature`` element as read (XML text), empty when absent or empty."""
    extra: Extra = ()
    """Other parts of ``edXMLHeader``."""


class StatusForm(StrEnum):
    """The two ways status packets are written: QCVN 102's ``Status`` element, or a ``MessageHeader`` holding
    ``StatusCode`` as the VNPT EdXML102 library (and the national axis's SDK) writes and reads them."""

    STATUS = "Status"
    MESSAGE_HEADER = "MessageHeader"


@dataclass(frozen=True)
class StatusPacket:
    response_for: ResponseFor
    """The document this status is about."""
    from_: Organization
    """The agency reporting the status (XML ``From``)."""
    status_code: StatusCode
    timestamp: datetime
    """Time zone aware; written in +07:00 to the second."""
    description: str = ""
    staff_info: StaffInfo = StaffInfo()
    form: StatusForm = StatusForm.STATUS
    """How it was (or is to be) written."""
    extra: Extra = ()
    signature: str = ""
    """The packet's XML-DSig ``Signature`` element as read (XML text), empty when absent or empty."""


def make_document_id(organ_id: str, promulgation_date: date, code_number: str, code_notation: str) -> str:
    """The DocumentId of a new document, e.g. ``000.00.00.G22,2018/09/20,7816/VPCP-TTĐT``."""
    return f"{organ_id},{promulgation_date.strftime(DATE_FORMAT)},{code_number}/{code_notation}"


def document_id_agency(document_id: str) -> str | None:
    """The agency a structured DocumentId (``<sender OrganId>,<yyyy/MM/dd>,<number>/<notation>``) names: its
    part before the first comma. None for an opaque one without a comma (other systems' UUIDs)."""
    first, comma, _ = document_id.partition(",")
    return first.strip().upper() if comma else None


def response_for(header: MessageHeader) -> ResponseFor:
    """The ``ResponseFor`` that points at the document described by ``header``."""
    return ResponseFor(
        organ_id=header.from_.organ_id,
        code=f"{header.code.code_number}/{header.code.code_notation}",
        promulgation_date=header.promulgation_info.promulgation_date,
        document_id=header.document_id,
    )


def status_packet_for(
    packet: DocumentPacket,
    from_: Organization,
    status_code: StatusCode,
    *,
    description: str = "",
    staff_info: StaffInfo | None = None,
    timestamp: datetime | None = None,
    form: StatusForm = StatusForm.STATUS,
) -> StatusPacket:
    """The status packet ``from_`` (a recipient, or the sender for 13) sends about ``packet``."""
    return StatusPacket(
        response_for=response_for(packet.message_header),
        from_=from_,
        status_code=status_code,
        timestamp=timestamp or vn_now(),
        description=description,
        staff_info=staff_info or StaffInfo(),
        form=form,
    )


def vn_now() -> datetime:
    """Now in Vietnam time, to the second (what a timestamp can carry)."""
    return datetime.now(VN_TZ).replace(microsecond=0)



def organization_fields(org: Organization) -> list[tuple[str, str]]:
    # Order of the official sample and the VNPT/.NET SDKs.
    return [
        ("OrganId", org.organ_id),
        ("OrganizationInCharge", org.organization_in_charge),
        ("OrganName", org.organ_name),
        ("OrganAdd", org.organ_add),
        ("Email", org.email),
        ("Telephone", org.telephone),
        ("Fax", org.fax),
        ("Website", org.website),
    ]


def staff_fields(s: StaffInfo) -> list[tuple[str, str]]:
    # The VNPT library's order (its DepartmentId and StaffId, when read, are kept in ``extra``).
    return [("Department", s.department), ("Staff", s.staff), ("Email", s.email), ("Mobile", s.mobile)]



def lenient_date(text: str) -> date | None:
    text = text.strip().split(" ")[0].split("T")[0]
    for fmt in LENIENT_DATES:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def lenient_timestamp(text: str) -> datetime | None:
    text = text.strip()
    parsed: datetime | None = None
    for fmt in LENIENT_TIMESTAMPS:
        try:
            parsed = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            day = lenient_date(text)
            parsed = datetime(day.year, day.month, day.day) if day else None
    if parsed is None:
        return None
    # A time without an offset is Vietnam time: every SDK we know writes local time.
    return parsed.replace(tzinfo=VN_TZ) if parsed.tzinfo is None else parsed.astimezone(VN_TZ)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

