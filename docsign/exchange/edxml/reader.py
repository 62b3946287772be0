"""Reading edXML packets leniently and safely.

Lenient: also dd/MM/yyyy dates, ``Business``, ``OrganInCharge``, missing optional fields; the result
is then checked with the lenient rules (docsign.exchange.edxml.validation).

Safe by construction: no DTD is loaded, no entity is expanded, nothing is fetched from the network,
and a packet that declares a DOCTYPE at all is refused. An attachment is one base64 text node: for
UTF-8 packets (what QCVN 102 prescribes and the builder writes), where the byte scan for DTDs is
conclusive, libxml2's 10 MB cap on text nodes is lifted (``huge_tree``) and the packet size bound is
the only limit; a packet in another encoding is read with the cap, so its attachments hold at most
:data:`MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from datetime import date, datetime

from lxml import etree

from docsign.errors import InvalidInput
from docsign.exchange.agency_codes import parse_agency_code
from docsign.exchange.edxml.model import (
    DEFAULT_MAX_ATTACHMENTS,
    DEFAULT_MAX_PACKET_BYTES,
    MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS,
    VN_TZ,
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentPacket,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusForm,
    StatusPacket,
    TraceHeader,
    TraceHeaderList,
    lenient_date,
    lenient_timestamp,
)
from docsign.exchange.edxml.validation import Problems, validate_document_packet, validate_status_packet
from docsign.exchange.errors import InvalidPacket, PacketTooLarge, UnsafeXml
from docsign.exchange.statuses import StatusCode

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
    if parent is None:
        return None
    return next((c for c in parent if isinstance(c.tag, str) and _local(c) in names), None)  # the first only



def _extra(element: etree._Element | None, known: frozenset[str]) -> tuple[str, ...]:
    """The children of ``element`` docsign does not act on, as XML text (kept for the round trip)."""
    if element is None:
        return ()
    return tuple(_xml_text(c) for c in element if isinstance(c.tag, str) and _local(c) not in known)


def _xml_text(element: etree._Element) -> str:
    # Exclusive C14N: the element with only the namespaces it uses, whatever surrounded it.
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False).decode("utf-8")


def _is_empty(element: etree._Element) -> bool:
    """``<ResponseFor/>`` or one holding only empty children: an optional element left empty."""
    return not (element.text or "").strip() and all(_is_empty(c) for c in element if isinstance(c.tag, str))


_ORGANIZATION = frozenset({"OrganId", "OrganName", "OrganizationInCharge", "OrganInCharge", "OrganAdd", "Email",
                           "Telephone", "Fax", "Website"})
_STAFF = frozenset({"Department", "Staff", "Mobile", "Email"})
_MESSAGE_HEADER = frozenset({"From", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType", "Subject",
                             "Content", "SignerInfo", "DueDate", "ToPlaces", "OtherInfo", "SteeringType",
                             "ResponseFor"})
_OTHER_INFO = frozenset({"Priority", "SphereOfPromulgation", "TyperNotation", "PromulgationAmount", "PageAmount",
                         "Appendixes"})
_BUSINESS = frozenset({"BussinessDocType", "BusinessDocType", "BussinessDocReason", "BusinessDocReason",
                       "DocumentId", "Paper", "StaffInfo", "BussinessDocumentInfo", "BusinessDocumentInfo",
                       "ReplacementInfoList"})
_TRACE_LIST = frozenset({"TraceHeader", "Bussiness", "Business"})
_ATTACHMENT = frozenset({"ContentId", "AttachmentName", "Description", "ContentType", "ContentTransferEncoded"})
_HEADER = frozenset({"MessageHeader", "TraceHeaderList", "Signature", "Status"})
_STATUS = frozenset({"ResponseFor", "From", "StatusCode", "Description", "Timestamp", "StaffInfo"})


def _normal_code(text: str) -> str:
    """Agency codes normalised (spaces, lower case) when they are QCVN codes; other systems' ids as written."""
    try:
        return str(parse_agency_code(text.strip()))
    except InvalidInput:
        return text.strip()


class _Reader:
    """Reads fields leniently and records unreadable ones in ``problems`` instead of failing at once."""

    def __init__(self) -> None:
        self.problems = Problems()

    def text(self, parent: etree._Element | None, *names: str) -> str:
        element = _kid(parent, *names)
        return element.text or "" if element is not None else ""

    def code(self, parent: etree._Element | None, name: str) -> str:
        return _normal_code(self.text(parent, name))

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
        day = lenient_date(text)
        if day is None:
            self.problems.add(path, f"{text!r} is not a date (expected yyyy/MM/dd)")
        return day

    def timestamp(self, parent: etree._Element | None, path: str, name: str) -> datetime:
        text = self.text(parent, name).strip()
        stamp = lenient_timestamp(text) if text else None
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
            extra=_extra(element, _ORGANIZATION),
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
        return StaffInfo(department=self.text(s, "Department"), staff=self.text(s, "Staff"),
                         mobile=self.text(s, "Mobile"), email=self.text(s, "Email"), extra=_extra(s, _STAFF))

    def business(self, element: etree._Element | None) -> Business:
        path = "TraceHeaderList/Bussiness"
        info = _kid(element, "BussinessDocumentInfo", "BusinessDocumentInfo")
        document_info = None
        if info is not None:
            document_info = BusinessDocumentInfo(
                document_info=self.text(info, "DocumentInfo").strip(),
                document_receiver=self.text(info, "DocumentReceiver").strip(),
                receivers=tuple(Receiver(self.code(r, "OrganId"), self.text(r, "ReceiverType").strip())
                                for r in _kids(_kid(info, "ReceiverList"), "Receiver")),
            )
        return Business(
            business_doc_type=self.integer(element, f"{path}/BussinessDocType", "BussinessDocType",
                                           "BusinessDocType", default=0) or 0,
            business_doc_reason=self.text(element, "BussinessDocReason", "BusinessDocReason"),
            document_id=self.text(element, "DocumentId").strip(),
            paper=self.integer(element, f"{path}/Paper", "Paper", default=0) or 0,
            staff_info=self.staff(element),
            document_info=document_info,
            replacements=tuple(
                ReplacementInfo(self.text(ri, "DocumentId").strip(),
                                tuple(_normal_code(o.text or "") for o in _kids(_kid(ri, "OrganIdList"), "OrganId")))
                for ri in _kids(_kid(element, "ReplacementInfoList"), "ReplacementInfo")),
            extra=_extra(element, _BUSINESS),
        )


def _header_part(root: etree._Element, name: str) -> etree._Element | None:
    return _kid(_kid(_kid(root, "edXMLEnvelope"), "edXMLHeader"), name)


def _signature(root: etree._Element) -> str:
    element = _header_part(root, "Signature")
    if element is None or _is_empty(element):
        return ""
    return _xml_text(element)


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
        code=Code(r.text(code, "CodeNumber").strip(), r.text(code, "CodeNotation").strip(),
                  extra=_extra(code, frozenset({"CodeNumber", "CodeNotation"}))),
        promulgation_info=PromulgationInfo(
            place=r.text(info, "Place"),
            # The placeholder never escapes: a missing date is a problem raised below.
            promulgation_date=r.date(info, f"{mh_path}/PromulgationInfo/PromulgationDate", "PromulgationDate", True)
            or date.min,
            extra=_extra(info, frozenset({"Place", "PromulgationDate"})),
        ),
        document_type=DocumentType(
            type=r.integer(doc_type, f"{mh_path}/DocumentType/Type", "Type", default=0) or 0,
            type_name=r.text(doc_type, "TypeName"),
            extra=_extra(doc_type, frozenset({"Type", "TypeName"})),  # e.g. Bkav's TypeDetail
        ),
        subject=r.text(mh, "Subject"),
        content=r.text(mh, "Content"),
        signer_info=SignerInfo(r.text(signer, "Competence"), r.text(signer, "Position"), r.text(signer, "FullName"),
                               extra=_extra(signer, frozenset({"Competence", "Position", "FullName"}))),
        due_date=r.date(mh, f"{mh_path}/DueDate", "DueDate"),
        to_places=tuple(p.text or "" for p in _kids(_kid(mh, "ToPlaces"), "Place")),
        other_info=OtherInfo(
            priority=r.integer(other, f"{mh_path}/OtherInfo/Priority", "Priority", default=0) or 0,
            sphere_of_promulgation=r.text(other, "SphereOfPromulgation"),
            typer_notation=r.text(other, "TyperNotation"),
            promulgation_amount=r.integer(other, f"{mh_path}/OtherInfo/PromulgationAmount", "PromulgationAmount"),
            page_amount=r.integer(other, f"{mh_path}/OtherInfo/PageAmount", "PageAmount"),
            appendixes=tuple(a.text or "" for a in _kids(_kid(other, "Appendixes"), "Appendix")),
            extra=_extra(other, _OTHER_INFO),
        ),
        steering_type=r.integer(mh, f"{mh_path}/SteeringType", "SteeringType"),
        # An empty <ResponseFor/> (the VPCP SDK writes one) answers nothing.
        response_for=tuple(
            r.response_for(rf, f"MessageHeader/ResponseFor[{i}]")
            for i, rf in enumerate(_kids(mh, "ResponseFor"), 1) if not _is_empty(rf)
        ),
        extra=_extra(mh, _MESSAGE_HEADER),
    )

    trace, path = _header_part(root, "TraceHeaderList"), "TraceHeaderList/TraceHeader"
    trace_list = TraceHeaderList(
        trace_headers=tuple(
            TraceHeader(r.code(th, "OrganId"), r.timestamp(th, f"{path}[{i}]/Timestamp", "Timestamp"),
                        extra=_extra(th, frozenset({"OrganId", "Timestamp"})))
            for i, th in enumerate(_kids(trace, "TraceHeader"), 1)
        ),
        business=r.business(_kid(trace, "Bussiness", "Business")),
        extra=_extra(trace, _TRACE_LIST),
    )

    attachments = _read_attachments(root, r, max_attachments)
    packet = DocumentPacket(header, trace_list, attachments, signature=_signature(root),
                            extra=_extra(_kid(_kid(root, "edXMLEnvelope"), "edXMLHeader"), _HEADER))
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
                extra=_extra(element, _ATTACHMENT),
            )
        )
    # Every manifest entry must point at an attachment that is really there.
    present = {a.content_id: n for n, a in enumerate(attachments)}
    references = _kids(_kid(_kid(_kid(root, "edXMLEnvelope"), "edXMLBody"), "edXMLManifest"), "Reference")
    for i, ref in enumerate(references, 1):
        cid = r.text(ref, "ContentId").strip().removeprefix("cid:")
        if cid not in present:
            r.problems.add(f"edXMLManifest/Reference[{i}]/ContentId", f"cid:{cid} has no attachment in the packet")
            continue
        listed = r.text(ref, "ContentType").strip()
        attachment = attachments[present[cid]]
        if listed and listed != attachment.content_type:
            attachments[present[cid]] = dataclasses.replace(attachment, manifest_content_type=listed)
    return tuple(attachments)


def _status_part(root: etree._Element) -> tuple[etree._Element, StatusForm, str] | None:
    """Where a status packet's fields are: ``Status`` (QCVN 102), or a ``MessageHeader`` that holds a
    ``StatusCode`` (the VNPT library's form)."""
    status = _header_part(root, "Status")
    if status is not None:
        return status, StatusForm.STATUS, "Status"
    header = _header_part(root, "MessageHeader")
    if header is not None and _kid(header, "StatusCode") is not None:
        return header, StatusForm.MESSAGE_HEADER, "MessageHeader"
    return None


def _read_status(root: etree._Element) -> StatusPacket:
    found = _status_part(root)
    if found is None:
        raise InvalidPacket("edXMLEnvelope/edXMLHeader/Status: missing (nor a MessageHeader with a StatusCode), "
                            "this is not an edXML status packet")
    status, form, path = found
    r = _Reader()
    raw_code = r.text(status, "StatusCode")
    try:
        code = StatusCode.parse(raw_code)
    except InvalidInput as exc:
        r.problems.add(f"{path}/StatusCode", exc.message if raw_code.strip() else "required")
        code = StatusCode.ARRIVED
    packet = StatusPacket(
        response_for=r.response_for(_kid(status, "ResponseFor"), f"{path}/ResponseFor"),
        from_=r.organization(_kid(status, "From")),
        status_code=code,
        timestamp=r.timestamp(status, f"{path}/Timestamp", "Timestamp"),
        description=r.text(status, "Description"),
        staff_info=r.staff(status),
        form=form,
        extra=_extra(status, _STATUS),
        signature=_signature(root),
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
    """Read a status packet (either form) leniently and check its rules; raises an InvalidInput subclass."""
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
    if _status_part(root) is not None:
        return _read_status(root)
    return _read_document(root, max_attachments, today)
