"""Rules of QCVN 102 §1.2 for both kinds of packet: strictly as docsign writes them, leniently as others
do. Every broken rule is reported at once in one :class:`PacketFieldError` naming each field path."""

from __future__ import annotations

import re
from datetime import date, datetime

from docsign.errors import InvalidInput
from docsign.exchange.agency_codes import parse_agency_code
from docsign.exchange.edxml.model import (
    DATE_FORMAT,
    DEFAULT_MAX_ATTACHMENTS,
    VN_TZ,
    Attachment,
    DocumentPacket,
    MessageHeader,
    Organization,
    ResponseFor,
    StaffInfo,
    StatusPacket,
    TraceHeaderList,
    is_uuid,
    make_document_id,
    organization_fields,
    staff_fields,
)
from docsign.exchange.errors import PacketFieldError, PacketTooLarge

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


MAX_OTHER_ID = 100
"""Longest agency id or DocumentId read from another system (the database keeps 100 characters)."""


class Problems(list[tuple[str, str]]):
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

    def agency(self, path: str, value: str, *, strict: bool, required: bool = True) -> None:
        if not value.strip():
            if required:
                self.add(path, "required")
            return
        if not strict:
            # Other systems use ids that are not QCVN codes (the axis's test units "vxp.saas.03", short
            # codes such as "01.02.G22" in traces): read as written; the directory decides who they are.
            self.text(path, value, MAX_OTHER_ID)
            if any(c.isspace() for c in value.strip()):
                self.add(path, f"{value!r} is not an agency id (it contains spaces)")
            return
        try:
            code = parse_agency_code(value, field=path)
        except InvalidInput as exc:
            self.add(path, exc.message.removeprefix(f"{path}: "))
            return
        if str(code) != value:
            self.add(path, f"{value!r} must be written exactly as {str(code)!r}")

    def timestamp(self, path: str, value: datetime) -> None:
        if value.tzinfo is None:
            self.add(path, "must carry a time zone (use docsign.exchange.edxml.vn_now())")

    def raise_if_any(self) -> None:
        if self:
            raise PacketFieldError(self)


def _check_organization(p: Problems, path: str, org: Organization, *, strict: bool) -> None:
    p.agency(f"{path}/OrganId", org.organ_id, strict=strict)
    for name, value in organization_fields(org)[1:]:
        p.text(f"{path}/{name}", value, _ORGANIZATION_LIMITS[name])


def _check_response_for(p: Problems, path: str, rf: ResponseFor, *, strict: bool) -> None:
    p.agency(f"{path}/OrganId", rf.organ_id, strict=strict)
    p.text(f"{path}/Code", rf.code, 42)
    p.text(f"{path}/DocumentId", rf.document_id, required=True)


def _check_document_id(p: Problems, h: MessageHeader, *, strict: bool) -> None:
    path = "MessageHeader/DocumentId"
    form = "<sender OrganId>,<yyyy/MM/dd>,<number>/<notation>"
    if not h.document_id.strip():
        p.add(path, "required")
    elif strict:
        expected = make_document_id(
            h.from_.organ_id, h.promulgation_info.promulgation_date, h.code.code_number, h.code.code_notation
        )
        if h.document_id != expected:
            p.add(path, f"must be {form} from this header, i.e. {expected!r}, got {h.document_id!r}")
    else:
        # Others write UUIDs (the VPCP SDK) or dates that do not exist ("2014/02/30" in the VNPT samples):
        # a DocumentId read is an opaque name.
        p.text(path, h.document_id, MAX_OTHER_ID)


def _check_header(p: Problems, h: MessageHeader, *, strict: bool, today: date) -> None:
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
    # QCVN allows 11 characters; the axis's own gateway numbers packets with a 14-digit timestamp.
    p.text("MessageHeader/Code/CodeNumber", h.code.code_number, 11 if strict else 30, required=True)
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


def _check_staff(p: Problems, path: str, s: StaffInfo) -> None:
    for name, value in staff_fields(s):
        p.text(f"{path}/{name}", value)


def _check_trace(p: Problems, t: TraceHeaderList, *, strict: bool) -> None:
    for i, th in enumerate(t.trace_headers, 1):
        p.agency(f"TraceHeaderList/TraceHeader[{i}]/OrganId", th.organ_id, strict=strict, required=strict)
        p.timestamp(f"TraceHeaderList/TraceHeader[{i}]/Timestamp", th.timestamp)
    b = t.business
    p.number("TraceHeaderList/Bussiness/BussinessDocType", b.business_doc_type, 0, 3)
    p.text("TraceHeaderList/Bussiness/BussinessDocReason", b.business_doc_reason)
    p.text("TraceHeaderList/Bussiness/DocumentId", b.document_id)
    # Read: a revocation may name no DocumentId (it is the packet's own), a replacement names them in
    # ReplacementInfoList (Business.related_document_ids).
    if strict and b.business_doc_type != 0 and not b.document_id.strip():
        p.add("TraceHeaderList/Bussiness/DocumentId", "required when BussinessDocType is 1, 2 or 3")
    p.number("TraceHeaderList/Bussiness/Paper", b.paper, 0)
    _check_staff(p, "TraceHeaderList/Bussiness/StaffInfo", b.staff_info)


def _check_attachments(p: Problems, attachments: tuple[Attachment, ...], *, strict: bool, max_count: int) -> None:
    if len(attachments) > max_count:
        raise PacketTooLarge(f"the packet has {len(attachments)} attachments; at most {max_count} are accepted")
    seen: set[str] = set()
    for i, a in enumerate(attachments, 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        if not a.content_id.strip() or any(c.isspace() for c in a.content_id):
            p.add(f"{path}/ContentId", f"{a.content_id!r} is not a content id")
        elif strict and not is_uuid(a.content_id):
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
    p = Problems()
    _check_header(p, packet.message_header, strict=strict, today=today or datetime.now(VN_TZ).date())
    _check_trace(p, packet.trace_header_list, strict=strict)
    _check_attachments(p, packet.attachments, strict=strict, max_count=max_attachments)
    p.raise_if_any()


def validate_status_packet(packet: StatusPacket, *, strict: bool = True) -> None:
    """Raise :class:`PacketFieldError` listing every broken rule."""
    p = Problems()
    root = packet.form.value  # the element the fields are in: Status or MessageHeader
    _check_response_for(p, f"{root}/ResponseFor", packet.response_for, strict=strict)
    _check_organization(p, f"{root}/From", packet.from_, strict=strict)
    p.text(f"{root}/Description", packet.description)
    p.timestamp(f"{root}/Timestamp", packet.timestamp)
    _check_staff(p, f"{root}/StaffInfo", packet.staff_info)
    p.raise_if_any()

