"""edXML packets (QCVN 102:2016): frozen dataclasses, a strict builder and a lenient, safe parser.

Two kinds of packet share one envelope (domain-vn.md §1):

- a **document packet**: ``MessageHeader`` (metadata), ``TraceHeaderList`` (routing trace and business
  action), an empty ``Signature`` (the legal signatures are in the attached PDF), the manifest and the
  base64 attachments;
- a **status packet**: only ``Status`` (01 arrived ... 16 recall refused) answering a document.

Emit strictly (yyyy/MM/dd dates, ``yyyy/MM/dd HH:mm:ss`` timestamps in +07:00, ``Bussiness``,
``OrganizationInCharge``), parse leniently (also dd/MM/yyyy, ``Business``, ``OrganInCharge``, missing
optional fields), and check the field limits of §1.2 both ways. Every broken rule is reported at once
in one :class:`PacketFieldError` whose message names each field path.

Parsing is safe by construction: no DTD is loaded, no entity is expanded, nothing is fetched from the
network, and a packet that declares a DOCTYPE at all is refused. An attachment is one base64 text node:
for UTF-8 packets (what QCVN 102 prescribes and the builder writes), where the byte scan for DTDs is
conclusive, libxml2's 10 MB cap on text nodes is lifted (``huge_tree``) and the packet size bound
is the only limit; a packet in another encoding is read with the cap, so its attachments hold at most
:data:`MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS`.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from lxml import etree

from docsign.errors import InvalidInput
from docsign.exchange.agency_codes import parse_agency_code
from docsign.exchange.errors import InvalidPacket, PacketFieldError, PacketTooLarge, UnsafeXml
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

DATE_FORMAT = "%Y/%m/%d"
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
_LENIENT_DATES = (DATE_FORMAT, "%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y")
_LENIENT_TIMESTAMPS = (TIMESTAMP_FORMAT, "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S")


# --- dataclasses -----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Code:
    code_number: str
    """Document number, e.g. ``05`` (số)."""
    code_notation: str
    """Symbol, e.g. ``UBND-VP`` (ký hiệu)."""


@dataclass(frozen=True)
class PromulgationInfo:
    place: str
    """Place name printed in the header, e.g. ``Hòa Bình``."""
    promulgation_date: date


@dataclass(frozen=True)
class DocumentType:
    type: int
    """Sources disagree on the values (1/2 at Bkav, 18 for a công văn elsewhere)."""
    type_name: str = ""
    """E.g. ``Công văn``, ``Quyết định``."""


@dataclass(frozen=True)
class SignerInfo:
    competence: str = ""
    """Authority prefix: ``TM.``, ``KT.``, ``TL.``, ``TUQ.``, ``Q.`` or empty."""
    position: str = ""
    full_name: str = ""


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


@dataclass(frozen=True)
class TraceHeader:
    organ_id: str
    timestamp: datetime
    """Time zone aware; written in +07:00 to the second."""


@dataclass(frozen=True)
class StaffInfo:
    department: str = ""
    staff: str = ""
    mobile: str = ""
    email: str = ""


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


@dataclass(frozen=True)
class TraceHeaderList:
    trace_headers: tuple[TraceHeader, ...] = ()
    """One entry per hop."""
    business: Business = Business()


@dataclass(frozen=True)
class Attachment:
    content_id: str
    """A UUID, without the ``cid:`` prefix the manifest adds."""
    attachment_name: str
    content_type: str
    data: bytes = field(repr=False)
    description: str = ""

    @classmethod
    def new(cls, name: str, data: bytes, content_type: str = "application/pdf", description: str = "") -> Attachment:
        """An attachment with a fresh UUID."""
        return cls(str(uuid.uuid4()), name, content_type, data, description)


@dataclass(frozen=True)
class DocumentPacket:
    message_header: MessageHeader
    trace_header_list: TraceHeaderList = TraceHeaderList()
    attachments: tuple[Attachment, ...] = ()


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


def make_document_id(organ_id: str, promulgation_date: date, code_number: str, code_notation: str) -> str:
    """The DocumentId of a new document, e.g. ``000.00.00.G22,2018/09/20,7816/VPCP-TTĐT``."""
    return f"{organ_id},{promulgation_date.strftime(DATE_FORMAT)},{code_number}/{code_notation}"


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
) -> StatusPacket:
    """The status packet ``from_`` (a recipient, or the sender for 13) sends about ``packet``."""
    return StatusPacket(
        response_for=response_for(packet.message_header),
        from_=from_,
        status_code=status_code,
        timestamp=timestamp or vn_now(),
        description=description,
        staff_info=staff_info or StaffInfo(),
    )


def vn_now() -> datetime:
    """Now in Vietnam time, to the second (what a timestamp can carry)."""
    return datetime.now(VN_TZ).replace(microsecond=0)


# --- validation ------------------------------------------------------------------------------------

_ORGANIZATION_LIMITS: dict[str, int | None] = {
    "OrganName": 200,
    "OrganizationInCharge": 200,
    "OrganAdd": 250,
    "Email": 100,
    "Telephone": 20,
    "Fax": 20,
    "Website": None,
}
# Characters XML 1.0 cannot carry; lxml would refuse them halfway through a build.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Problems(list[tuple[str, str]]):
    """Collects ``(path, reason)`` so that one report lists every broken rule."""

    def add(self, path: str, reason: str) -> None:
        self.append((path, reason))

    def text(self, path: str, value: str, limit: int | None = None, *, required: bool = False) -> None:
        if required and not value.strip():
            self.add(path, "required")
        elif limit is not None and len(value) > limit:
            self.add(path, f"at most {limit} characters, got {len(value)}")
        if _NOT_XML.search(value):
            self.add(path, "contains control characters that XML cannot carry")

    def number(self, path: str, value: int | None, low: int, high: int | None = None) -> None:
        if value is not None and (value < low or (high is not None and value > high)):
            allowed = f"{low} to {high}" if high is not None else f"{low} or more"
            self.add(path, f"must be {allowed}, got {value}")

    def agency(self, path: str, value: str, *, strict: bool) -> None:
        if not value.strip():
            self.add(path, "required")
            return
        try:
            code = parse_agency_code(value, field=path)
        except InvalidInput as exc:
            self.add(path, exc.message.removeprefix(f"{path}: "))
            return
        if strict and str(code) != value:
            self.add(path, f"{value!r} must be written exactly as {str(code)!r}")

    def timestamp(self, path: str, value: datetime) -> None:
        if value.tzinfo is None:
            self.add(path, "must carry a time zone (use docsign.exchange.edxml.vn_now())")

    def raise_if_any(self) -> None:
        if self:
            raise PacketFieldError(self)


def _check_organization(p: _Problems, path: str, org: Organization, *, strict: bool) -> None:
    p.agency(f"{path}/OrganId", org.organ_id, strict=strict)
    for name, value in _organization_fields(org)[1:]:
        p.text(f"{path}/{name}", value, _ORGANIZATION_LIMITS[name])


def _check_response_for(p: _Problems, path: str, rf: ResponseFor, *, strict: bool) -> None:
    p.agency(f"{path}/OrganId", rf.organ_id, strict=strict)
    p.text(f"{path}/Code", rf.code, 42)
    p.text(f"{path}/DocumentId", rf.document_id, required=True)


def _check_document_id(p: _Problems, h: MessageHeader, *, strict: bool) -> None:
    path = "MessageHeader/DocumentId"
    form = "<sender OrganId>,<yyyy/MM/dd>,<number>/<notation>"
    parts = h.document_id.strip().split(",", 2)
    if not h.document_id.strip():
        p.add(path, "required")
    elif strict:
        expected = make_document_id(
            h.from_.organ_id, h.promulgation_info.promulgation_date, h.code.code_number, h.code.code_notation
        )
        if h.document_id != expected:
            p.add(path, f"must be {form} from this header, i.e. {expected!r}, got {h.document_id!r}")
    elif len(parts) != 3 or _lenient_date(parts[1]) is None or "/" not in parts[2]:
        p.add(path, f"must have the form {form}, got {h.document_id!r}")
    else:
        p.agency(path, parts[0], strict=False)


def _check_header(p: _Problems, h: MessageHeader, *, strict: bool, today: date) -> None:
    _check_organization(p, "MessageHeader/From", h.from_, strict=strict)
    if not h.to:
        p.add("MessageHeader/To", "at least one recipient is required")
    seen: set[str] = set()
    for i, to in enumerate(h.to, 1):
        _check_organization(p, f"MessageHeader/To[{i}]", to, strict=strict)
        key = to.organ_id.strip().upper()
        if key in seen:
            p.add(f"MessageHeader/To[{i}]/OrganId", f"{to.organ_id} is already a recipient")
        seen.add(key)
    _check_document_id(p, h, strict=strict)
    p.text("MessageHeader/Code/CodeNumber", h.code.code_number, 11, required=True)
    p.text("MessageHeader/Code/CodeNotation", h.code.code_notation, 30, required=True)
    p.text("MessageHeader/PromulgationInfo/Place", h.promulgation_info.place, 50)
    if h.promulgation_info.promulgation_date > today:
        p.add(
            "MessageHeader/PromulgationInfo/PromulgationDate",
            f"{h.promulgation_info.promulgation_date.strftime(DATE_FORMAT)} is in the future",
        )
    p.text("MessageHeader/DocumentType/TypeName", h.document_type.type_name, 100)
    p.text("MessageHeader/Subject", h.subject, 500, required=True)
    p.text("MessageHeader/Content", h.content, 500)
    p.text("MessageHeader/SignerInfo/Competence", h.signer_info.competence)
    p.text("MessageHeader/SignerInfo/Position", h.signer_info.position, 100)
    p.text("MessageHeader/SignerInfo/FullName", h.signer_info.full_name, 50)
    for i, place in enumerate(h.to_places, 1):
        p.text(f"MessageHeader/ToPlaces/Place[{i}]", place, 150)
    o = h.other_info
    p.number("MessageHeader/OtherInfo/Priority", o.priority, 0, 4)
    p.text("MessageHeader/OtherInfo/SphereOfPromulgation", o.sphere_of_promulgation, 100)
    p.text("MessageHeader/OtherInfo/TyperNotation", o.typer_notation, 10)
    p.number("MessageHeader/OtherInfo/PromulgationAmount", o.promulgation_amount, 0)
    p.number("MessageHeader/OtherInfo/PageAmount", o.page_amount, 0)
    for i, appendix in enumerate(o.appendixes, 1):
        p.text(f"MessageHeader/OtherInfo/Appendixes/Appendix[{i}]", appendix)
    for i, rf in enumerate(h.response_for, 1):
        _check_response_for(p, f"MessageHeader/ResponseFor[{i}]", rf, strict=strict)


def _check_staff(p: _Problems, path: str, s: StaffInfo) -> None:
    for name, value in _staff_fields(s):
        p.text(f"{path}/{name}", value)


def _check_trace(p: _Problems, t: TraceHeaderList, *, strict: bool) -> None:
    for i, th in enumerate(t.trace_headers, 1):
        p.agency(f"TraceHeaderList/TraceHeader[{i}]/OrganId", th.organ_id, strict=strict)
        p.timestamp(f"TraceHeaderList/TraceHeader[{i}]/Timestamp", th.timestamp)
    b = t.business
    p.number("TraceHeaderList/Bussiness/BussinessDocType", b.business_doc_type, 0, 3)
    p.text("TraceHeaderList/Bussiness/BussinessDocReason", b.business_doc_reason)
    p.text("TraceHeaderList/Bussiness/DocumentId", b.document_id)
    if b.business_doc_type != 0 and not b.document_id.strip():
        p.add("TraceHeaderList/Bussiness/DocumentId", "required when BussinessDocType is 1, 2 or 3")
    p.number("TraceHeaderList/Bussiness/Paper", b.paper, 0)
    _check_staff(p, "TraceHeaderList/Bussiness/StaffInfo", b.staff_info)


def _check_attachments(p: _Problems, attachments: tuple[Attachment, ...], *, strict: bool, max_count: int) -> None:
    if len(attachments) > max_count:
        raise PacketTooLarge(f"the packet has {len(attachments)} attachments; at most {max_count} are accepted")
    seen: set[str] = set()
    for i, a in enumerate(attachments, 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        if not a.content_id.strip() or any(c.isspace() for c in a.content_id):
            p.add(f"{path}/ContentId", f"{a.content_id!r} is not a content id")
        elif strict and not _is_uuid(a.content_id):
            p.add(f"{path}/ContentId", f"{a.content_id!r} must be a UUID")
        elif a.content_id in seen:
            p.add(f"{path}/ContentId", f"{a.content_id} is used by two attachments")
        seen.add(a.content_id)
        p.text(f"{path}/AttachmentName", a.attachment_name, 255, required=True)
        p.text(f"{path}/ContentType", a.content_type, 100, required=True)
        p.text(f"{path}/Description", a.description)


def validate_document_packet(
    packet: DocumentPacket,
    *,
    strict: bool = True,
    today: date | None = None,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
) -> None:
    """Raise :class:`PacketFieldError` listing every broken rule (strict: as this service emits)."""
    p = _Problems()
    _check_header(p, packet.message_header, strict=strict, today=today or datetime.now(VN_TZ).date())
    _check_trace(p, packet.trace_header_list, strict=strict)
    _check_attachments(p, packet.attachments, strict=strict, max_count=max_attachments)
    p.raise_if_any()


def validate_status_packet(packet: StatusPacket, *, strict: bool = True) -> None:
    """Raise :class:`PacketFieldError` listing every broken rule."""
    p = _Problems()
    _check_response_for(p, "Status/ResponseFor", packet.response_for, strict=strict)
    _check_organization(p, "Status/From", packet.from_, strict=strict)
    p.text("Status/Description", packet.description)
    p.timestamp("Status/Timestamp", packet.timestamp)
    _check_staff(p, "Status/StaffInfo", packet.staff_info)
    p.raise_if_any()


# --- building --------------------------------------------------------------------------------------


def _organization_fields(org: Organization) -> list[tuple[str, str]]:
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


def _staff_fields(s: StaffInfo) -> list[tuple[str, str]]:
    return [("Department", s.department), ("Staff", s.staff), ("Mobile", s.mobile), ("Email", s.email)]


def _format(value: str | int | date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(VN_TZ).strftime(TIMESTAMP_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    return str(value)


def _node(parent: etree._Element, name: str) -> etree._Element:
    # Every element lives in the QCVN namespace; lxml writes the nearest prefix for it, so parts
    # under the envelope come out as edXML:Name and AttachmentEncoded under the root unprefixed.
    return etree.SubElement(parent, f"{{{NS}}}{name}")


def _sub(parent: etree._Element, name: str, value: str | int | date | datetime | None) -> None:
    # An unset number or date is left out: an empty <PageAmount/> breaks typed readers (.NET, JAXB).
    if value is not None:
        _node(parent, name).text = _format(value)


def _add_organization(parent: etree._Element, name: str, org: Organization) -> None:
    element = _node(parent, name)
    for child, value in _organization_fields(org):
        _sub(element, child, value)


def _add_response_for(parent: etree._Element, rf: ResponseFor) -> None:
    element = _node(parent, "ResponseFor")
    _sub(element, "OrganId", rf.organ_id)
    _sub(element, "Code", rf.code)
    _sub(element, "PromulgationDate", rf.promulgation_date)
    _sub(element, "DocumentId", rf.document_id)


def _add_staff(parent: etree._Element, s: StaffInfo) -> None:
    element = _node(parent, "StaffInfo")
    for child, value in _staff_fields(s):
        _sub(element, child, value)


def _envelope() -> tuple[etree._Element, etree._Element, etree._Element]:
    root = etree.Element(f"{{{NS}}}edXML", nsmap={"xsi": XSI_NS, "xsd": XSD_NS, None: NS})
    envelope = etree.SubElement(root, f"{{{NS}}}edXMLEnvelope", nsmap={"edXML": NS})
    return root, envelope, _node(envelope, "edXMLHeader")


def _serialize(root: etree._Element, max_bytes: int) -> bytes:
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if len(data) > max_bytes:
        raise PacketTooLarge(f"the packet would be {len(data):,} bytes; at most {max_bytes:,} are accepted")
    return data


def build_document_packet(
    packet: DocumentPacket,
    *,
    max_bytes: int = DEFAULT_MAX_PACKET_BYTES,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    today: date | None = None,
) -> bytes:
    """The ``.edxml`` bytes of ``packet``, after checking every rule strictly."""
    validate_document_packet(packet, strict=True, today=today, max_attachments=max_attachments)
    h = packet.message_header
    root, envelope, header = _envelope()

    mh = _node(header, "MessageHeader")
    _add_organization(mh, "From", h.from_)
    for to in h.to:
        _add_organization(mh, "To", to)
    _sub(mh, "DocumentId", h.document_id)
    code = _node(mh, "Code")
    _sub(code, "CodeNumber", h.code.code_number)
    _sub(code, "CodeNotation", h.code.code_notation)
    info = _node(mh, "PromulgationInfo")
    _sub(info, "Place", h.promulgation_info.place)
    _sub(info, "PromulgationDate", h.promulgation_info.promulgation_date)
    doc_type = _node(mh, "DocumentType")
    _sub(doc_type, "Type", h.document_type.type)
    _sub(doc_type, "TypeName", h.document_type.type_name)
    _sub(mh, "Subject", h.subject)
    _sub(mh, "Content", h.content)
    signer = _node(mh, "SignerInfo")
    _sub(signer, "Competence", h.signer_info.competence)
    _sub(signer, "Position", h.signer_info.position)
    _sub(signer, "FullName", h.signer_info.full_name)
    _sub(mh, "DueDate", h.due_date)
    places = _node(mh, "ToPlaces")
    for place in h.to_places:
        _sub(places, "Place", place)
    o = h.other_info
    other = _node(mh, "OtherInfo")
    _sub(other, "Priority", o.priority)
    _sub(other, "SphereOfPromulgation", o.sphere_of_promulgation)
    _sub(other, "TyperNotation", o.typer_notation)
    _sub(other, "PromulgationAmount", o.promulgation_amount)
    _sub(other, "PageAmount", o.page_amount)
    appendixes = _node(other, "Appendixes")
    for appendix in o.appendixes:
        _sub(appendixes, "Appendix", appendix)
    _sub(mh, "SteeringType", h.steering_type)
    for rf in h.response_for:
        _add_response_for(mh, rf)

    t = packet.trace_header_list
    # Attributes of the official sample; the id only has to be unique within the packet.
    trace = _node(header, "TraceHeaderList")
    trace.attrib.update(
        {"id": "trace", "version": "1.0", "mustUnderstand": "1", "actor": "http://schemas.xmlsoap.org/soap/actor/next"}
    )
    for th in t.trace_headers:
        hop = _node(trace, "TraceHeader")
        _sub(hop, "OrganId", th.organ_id)
        _sub(hop, "Timestamp", th.timestamp)
    b = t.business
    business = _node(trace, "Bussiness")
    _sub(business, "BussinessDocType", b.business_doc_type)
    _sub(business, "BussinessDocReason", b.business_doc_reason)
    _sub(business, "DocumentId", b.document_id)
    _sub(business, "Paper", b.paper)
    _add_staff(business, b.staff_info)

    # Legal signatures are PAdES signatures inside the attached PDF; the XML-DSig slot stays empty.
    etree.SubElement(header, f"{{{DSIG_NS}}}Signature", nsmap={None: DSIG_NS})

    manifest = _node(_node(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    for a in packet.attachments:
        ref = _node(manifest, "Reference")
        _sub(ref, "ContentId", f"cid:{a.content_id}")
        _sub(ref, "ContentType", a.content_type)
        _sub(ref, "AttachmentName", a.attachment_name)
        _sub(ref, "Description", a.description)
    if packet.attachments:
        encoded = _node(root, "AttachmentEncoded")
        for a in packet.attachments:
            att = _node(encoded, "Attachment")
            _sub(att, "ContentId", a.content_id)
            _sub(att, "AttachmentName", a.attachment_name)
            _sub(att, "Description", a.description)
            _sub(att, "ContentType", a.content_type)
            _sub(att, "ContentTransferEncoded", base64.b64encode(a.data).decode("ascii"))
    return _serialize(root, max_bytes)


def build_status_packet(packet: StatusPacket, *, max_bytes: int = DEFAULT_MAX_PACKET_BYTES) -> bytes:
    """The ``.edxml`` bytes of a status packet, after checking its fields strictly."""
    validate_status_packet(packet, strict=True)
    root, _, header = _envelope()
    status = _node(header, "Status")
    _add_response_for(status, packet.response_for)
    _add_organization(status, "From", packet.from_)
    _sub(status, "StatusCode", packet.status_code.value)
    _sub(status, "Description", packet.description)
    _sub(status, "Timestamp", packet.timestamp)
    _add_staff(status, packet.staff_info)
    return _serialize(root, max_bytes)


# --- parsing ---------------------------------------------------------------------------------------


_UNSAFE = "the packet declares a DOCTYPE or entities; edXML packets must not contain DTDs and are refused for safety"
_DTD_MARKERS = tuple(m.encode(enc) for m in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be"))


def _safe_root(data: bytes, max_bytes: int) -> etree._Element:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidPacket("an edXML packet must be given as bytes")
    if len(data) > max_bytes:
        raise PacketTooLarge(f"the packet is {len(data):,} bytes; at most {max_bytes:,} are accepted")
    # Refuse DTDs outright, before libxml2 reads a single declaration (defusedxml's forbid_dtd).
    if any(marker in data for marker in _DTD_MARKERS):
        raise UnsafeXml(_UNSAFE)
    utf8 = _is_utf8(data)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=utf8, remove_comments=True, remove_pis=True
    )
    try:
        root = etree.fromstring(bytes(data), parser)
    except etree.XMLSyntaxError as exc:
        if not utf8 and ("too long" in str(exc) or "huge" in str(exc).lower()):
            raise PacketTooLarge(
                f"a field or attachment in the packet is too large to read: in an encoding other than UTF-8 an "
                f"attachment holds at most {MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS:,} bytes ({exc})"
            ) from None
        raise InvalidPacket(f"the packet is not well-formed XML: {exc}") from None
    # Second line of defence for encodings the byte scan does not know (UTF-32, EBCDIC...).
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml(_UNSAFE)
    if _local(root) != "edXML":
        raise InvalidPacket(f"the root element is <{_local(root)}>, not <edXML>: this is not an edXML packet")
    return root


_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _is_utf8(data: bytes | bytearray | memoryview) -> bool:
    """UTF-8 (with or without a BOM) and not declared otherwise: the DTD byte scan saw the real bytes."""
    head = bytes(data[:200])
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if not head.startswith(b"<") or b"\x00" in head:
        return False  # UTF-16 or UTF-32 (with or without a BOM), or something else
    declared = _DECLARED_ENCODING.match(head)
    return declared is None or declared.group(1).upper().replace(b"_", b"-") in (b"UTF-8", b"UTF8")


def _local(element: etree._Element) -> str:
    return str(element.tag).rpartition("}")[2]  # "{namespace}name" or "name": what etree.QName parses, cheaper


def _kids(parent: etree._Element | None, *names: str) -> list[etree._Element]:
    # Matched by local name: senders disagree on prefixes, and some write no namespace at all.
    if parent is None:
        return []
    return [c for c in parent if isinstance(c.tag, str) and _local(c) in names]


def _kid(parent: etree._Element | None, *names: str) -> etree._Element | None:
    found = _kids(parent, *names)
    return found[0] if found else None


def _lenient_date(text: str) -> date | None:
    text = text.strip().split(" ")[0].split("T")[0]
    for fmt in _LENIENT_DATES:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _lenient_timestamp(text: str) -> datetime | None:
    text = text.strip()
    parsed: datetime | None = None
    for fmt in _LENIENT_TIMESTAMPS:
        try:
            parsed = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            day = _lenient_date(text)
            parsed = datetime(day.year, day.month, day.day) if day else None
    if parsed is None:
        return None
    # A time without an offset is Vietnam time: every SDK we know writes local time.
    return parsed.replace(tzinfo=VN_TZ) if parsed.tzinfo is None else parsed.astimezone(VN_TZ)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class _Reader:
    """Reads fields leniently and records unreadable ones in ``problems`` instead of failing at once."""

    def __init__(self) -> None:
        self.problems = _Problems()

    def text(self, parent: etree._Element | None, *names: str) -> str:
        element = _kid(parent, *names)
        return element.text or "" if element is not None else ""

    def code(self, parent: etree._Element | None, name: str) -> str:
        # Agency codes are normalised (spaces, lower case) here; validation then checks the form.
        text = self.text(parent, name).strip()
        try:
            return str(parse_agency_code(text))
        except InvalidInput:
            return text

    def integer(self, parent: etree._Element | None, path: str, *names: str, default: int | None = None) -> int | None:
        text = self.text(parent, *names).strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            self.problems.add(path, f"{text!r} is not a whole number")
            return default

    def date(self, parent: etree._Element | None, path: str, name: str, required: bool = False) -> date | None:
        text = self.text(parent, name).strip()
        if not text:
            if required:
                self.problems.add(path, "required")
            return None
        day = _lenient_date(text)
        if day is None:
            self.problems.add(path, f"{text!r} is not a date (expected yyyy/MM/dd)")
        return day

    def timestamp(self, parent: etree._Element | None, path: str, name: str) -> datetime:
        text = self.text(parent, name).strip()
        stamp = _lenient_timestamp(text) if text else None
        if stamp is None:
            reason = f"{text!r} is not a timestamp (expected yyyy/MM/dd HH:mm:ss)" if text else "required"
            self.problems.add(path, reason)
            return datetime(1970, 1, 1, tzinfo=VN_TZ)
        return stamp

    def organization(self, element: etree._Element | None) -> Organization:
        return Organization(
            organ_id=self.code(element, "OrganId"),
            organ_name=self.text(element, "OrganName"),
            organization_in_charge=self.text(element, "OrganizationInCharge", "OrganInCharge"),
            organ_add=self.text(element, "OrganAdd"),
            email=self.text(element, "Email"),
            telephone=self.text(element, "Telephone"),
            fax=self.text(element, "Fax"),
            website=self.text(element, "Website"),
        )

    def response_for(self, element: etree._Element | None, path: str) -> ResponseFor:
        return ResponseFor(
            organ_id=self.code(element, "OrganId"),
            code=self.text(element, "Code"),
            promulgation_date=self.date(element, f"{path}/PromulgationDate", "PromulgationDate"),
            document_id=self.text(element, "DocumentId").strip(),
        )

    def staff(self, element: etree._Element | None) -> StaffInfo:
        s = _kid(element, "StaffInfo")
        return StaffInfo(*(self.text(s, name) for name in ("Department", "Staff", "Mobile", "Email")))


def _header_part(root: etree._Element, name: str) -> etree._Element | None:
    return _kid(_kid(_kid(root, "edXMLEnvelope"), "edXMLHeader"), name)


def _read_document(root: etree._Element, max_attachments: int, today: date | None) -> DocumentPacket:
    mh = _header_part(root, "MessageHeader")
    if mh is None:
        raise InvalidPacket("edXMLEnvelope/edXMLHeader/MessageHeader: missing, this is not an edXML document packet")
    r = _Reader()
    code, info, doc_type = _kid(mh, "Code"), _kid(mh, "PromulgationInfo"), _kid(mh, "DocumentType")
    signer, other = _kid(mh, "SignerInfo"), _kid(mh, "OtherInfo")
    mh_path = "MessageHeader"
    header = MessageHeader(
        from_=r.organization(_kid(mh, "From")),
        to=tuple(r.organization(to) for to in _kids(mh, "To")),
        document_id=r.text(mh, "DocumentId").strip(),
        code=Code(r.text(code, "CodeNumber").strip(), r.text(code, "CodeNotation").strip()),
        promulgation_info=PromulgationInfo(
            place=r.text(info, "Place"),
            # The placeholder never escapes: a missing date is a problem raised below.
            promulgation_date=r.date(info, f"{mh_path}/PromulgationInfo/PromulgationDate", "PromulgationDate", True)
            or date.min,
        ),
        document_type=DocumentType(
            type=r.integer(doc_type, f"{mh_path}/DocumentType/Type", "Type", default=0) or 0,
            type_name=r.text(doc_type, "TypeName"),
        ),
        subject=r.text(mh, "Subject"),
        content=r.text(mh, "Content"),
        signer_info=SignerInfo(r.text(signer, "Competence"), r.text(signer, "Position"), r.text(signer, "FullName")),
        due_date=r.date(mh, f"{mh_path}/DueDate", "DueDate"),
        to_places=tuple(p.text or "" for p in _kids(_kid(mh, "ToPlaces"), "Place")),
        other_info=OtherInfo(
            priority=r.integer(other, f"{mh_path}/OtherInfo/Priority", "Priority", default=0) or 0,
            sphere_of_promulgation=r.text(other, "SphereOfPromulgation"),
            typer_notation=r.text(other, "TyperNotation"),
            promulgation_amount=r.integer(other, f"{mh_path}/OtherInfo/PromulgationAmount", "PromulgationAmount"),
            page_amount=r.integer(other, f"{mh_path}/OtherInfo/PageAmount", "PageAmount"),
            appendixes=tuple(a.text or "" for a in _kids(_kid(other, "Appendixes"), "Appendix")),
        ),
        steering_type=r.integer(mh, f"{mh_path}/SteeringType", "SteeringType"),
        response_for=tuple(
            r.response_for(rf, f"MessageHeader/ResponseFor[{i}]") for i, rf in enumerate(_kids(mh, "ResponseFor"), 1)
        ),
    )

    trace, path = _header_part(root, "TraceHeaderList"), "TraceHeaderList/TraceHeader"
    business = _kid(trace, "Bussiness", "Business")
    trace_list = TraceHeaderList(
        trace_headers=tuple(
            TraceHeader(r.code(th, "OrganId"), r.timestamp(th, f"{path}[{i}]/Timestamp", "Timestamp"))
            for i, th in enumerate(_kids(trace, "TraceHeader"), 1)
        ),
        business=Business(
            business_doc_type=r.integer(
                business, "TraceHeaderList/Bussiness/BussinessDocType", "BussinessDocType", "BusinessDocType", default=0
            )
            or 0,
            business_doc_reason=r.text(business, "BussinessDocReason", "BusinessDocReason"),
            document_id=r.text(business, "DocumentId").strip(),
            paper=r.integer(business, "TraceHeaderList/Bussiness/Paper", "Paper", default=0) or 0,
            staff_info=r.staff(business),
        ),
    )

    attachments = _read_attachments(root, r, max_attachments)
    packet = DocumentPacket(header, trace_list, attachments)
    r.problems.raise_if_any()
    validate_document_packet(packet, strict=False, today=today, max_attachments=max_attachments)
    return packet


def _read_attachments(root: etree._Element, r: _Reader, max_attachments: int) -> tuple[Attachment, ...]:
    elements = _kids(_kid(root, "AttachmentEncoded"), "Attachment")
    if len(elements) > max_attachments:
        raise PacketTooLarge(f"the packet has {len(elements)} attachments; at most {max_attachments} are accepted")
    attachments = []
    for i, element in enumerate(elements, 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        encoded = re.sub(r"\s+", "", r.text(element, "ContentTransferEncoded"))
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            r.problems.add(f"{path}/ContentTransferEncoded", "is not valid base64")
            data = b""
        attachments.append(
            Attachment(
                content_id=r.text(element, "ContentId").strip().removeprefix("cid:"),
                attachment_name=r.text(element, "AttachmentName"),
                content_type=r.text(element, "ContentType").strip() or "application/octet-stream",
                data=data,
                description=r.text(element, "Description"),
            )
        )
    # Every manifest entry must point at an attachment that is really there.
    present = {a.content_id for a in attachments}
    references = _kids(_kid(_kid(_kid(root, "edXMLEnvelope"), "edXMLBody"), "edXMLManifest"), "Reference")
    for i, ref in enumerate(references, 1):
        cid = r.text(ref, "ContentId").strip().removeprefix("cid:")
        if cid not in present:
            r.problems.add(f"edXMLManifest/Reference[{i}]/ContentId", f"cid:{cid} has no attachment in the packet")
    return tuple(attachments)


def _read_status(root: etree._Element) -> StatusPacket:
    status = _header_part(root, "Status")
    if status is None:
        raise InvalidPacket("edXMLEnvelope/edXMLHeader/Status: missing, this is not an edXML status packet")
    r = _Reader()
    raw_code = r.text(status, "StatusCode")
    try:
        code = StatusCode.parse(raw_code)
    except InvalidInput as exc:
        r.problems.add("Status/StatusCode", exc.message if raw_code.strip() else "required")
        code = StatusCode.ARRIVED
    packet = StatusPacket(
        response_for=r.response_for(_kid(status, "ResponseFor"), "Status/ResponseFor"),
        from_=r.organization(_kid(status, "From")),
        status_code=code,
        timestamp=r.timestamp(status, "Status/Timestamp", "Timestamp"),
        description=r.text(status, "Description"),
        staff_info=r.staff(status),
    )
    r.problems.raise_if_any()
    validate_status_packet(packet, strict=False)
    return packet


def parse_document_packet(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_PACKET_BYTES,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    today: date | None = None,
) -> DocumentPacket:
    """Read a document packet leniently and check its rules; raises an InvalidInput subclass."""
    return _read_document(_safe_root(data, max_bytes), max_attachments, today)


def parse_status_packet(data: bytes, *, max_bytes: int = DEFAULT_MAX_PACKET_BYTES) -> StatusPacket:
    """Read a status packet leniently and check its rules; raises an InvalidInput subclass."""
    return _read_status(_safe_root(data, max_bytes))


def parse_packet(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_PACKET_BYTES,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    today: date | None = None,
) -> DocumentPacket | StatusPacket:
    """Read either kind of packet; ``isinstance`` on the result tells which one it was."""
    root = _safe_root(data, max_bytes)
    if _header_part(root, "Status") is not None:
        return _read_status(root)
    return _read_document(root, max_attachments, today)
