"""Writing edXML packets: strict (every rule checked first), yyyy/MM/dd dates, ``yyyy/MM/dd HH:mm:ss``
timestamps in +07:00, ``Bussiness`` and ``OrganizationInCharge`` as the national axis spells them."""

from __future__ import annotations

import base64
from datetime import date, datetime

from lxml import etree

from docsign.exchange.edxml.model import (
    DATE_FORMAT,
    DEFAULT_MAX_ATTACHMENTS,
    DEFAULT_MAX_PACKET_BYTES,
    DSIG_NS,
    NS,
    TIMESTAMP_FORMAT,
    VN_TZ,
    XSD_NS,
    XSI_NS,
    Business,
    DocumentPacket,
    Extra,
    Organization,
    ResponseFor,
    StaffInfo,
    StatusForm,
    StatusPacket,
    organization_fields,
    staff_fields,
)
from docsign.exchange.edxml.validation import validate_document_packet, validate_status_packet
from docsign.exchange.errors import PacketTooLarge


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


def _add_extra(parent: etree._Element, extra: Extra) -> None:
    """Write back the elements read from another system that docsign does not act on."""
    for text in extra:
        parent.append(etree.fromstring(text, _EXTRA_PARSER))


# What _add_extra parses is what the reader serialised from an already safely parsed packet.
_EXTRA_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _add_organization(parent: etree._Element, name: str, org: Organization) -> None:
    element = _node(parent, name)
    for child, value in organization_fields(org):
        _sub(element, child, value)
    _add_extra(element, org.extra)


def _add_response_for(parent: etree._Element, rf: ResponseFor) -> None:
    # The VNPT library's order: DocumentId before PromulgationDate.
    element = _node(parent, "ResponseFor")
    _sub(element, "OrganId", rf.organ_id)
    _sub(element, "Code", rf.code)
    _sub(element, "DocumentId", rf.document_id)
    _sub(element, "PromulgationDate", rf.promulgation_date)


def _add_staff(parent: etree._Element, s: StaffInfo) -> None:
    element = _node(parent, "StaffInfo")
    for child, value in staff_fields(s):
        _sub(element, child, value)
    _add_extra(element, s.extra)


def _add_business(parent: etree._Element, b: Business) -> None:
    # The VNPT library's order: DocumentId, BussinessDocType, BussinessDocReason, Paper,
    # BussinessDocumentInfo, ReplacementInfoList, StaffInfo.
    business = _node(parent, "Bussiness")
    if b.document_id:
        _sub(business, "DocumentId", b.document_id)
    _sub(business, "BussinessDocType", b.business_doc_type)
    _sub(business, "BussinessDocReason", b.business_doc_reason)
    _sub(business, "Paper", b.paper)
    if b.document_info is not None:
        info = _node(business, "BussinessDocumentInfo")
        _sub(info, "DocumentInfo", b.document_info.document_info)
        _sub(info, "DocumentReceiver", b.document_info.document_receiver)
        receivers = _node(info, "ReceiverList")
        for receiver in b.document_info.receivers:
            element = _node(receivers, "Receiver")
            _sub(element, "OrganId", receiver.organ_id)
            _sub(element, "ReceiverType", receiver.receiver_type)
    if b.replacements:
        replacements = _node(business, "ReplacementInfoList")
        for replaced in b.replacements:
            element = _node(replacements, "ReplacementInfo")
            _sub(element, "DocumentId", replaced.document_id)
            organs = _node(element, "OrganIdList")
            for organ_id in replaced.organ_ids:
                _sub(organs, "OrganId", organ_id)
    _add_staff(business, b.staff_info)
    _add_extra(business, b.extra)


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
    strict: bool = True,
) -> bytes:
    """The ``.edxml`` bytes of ``packet``, after checking every rule strictly, in the element order of the
    VNPT EdXML102 library (what the national axis and the systems built on that library write and read).
    ``strict=False`` writes back a packet read from another system under the rules it was read with."""
    validate_document_packet(packet, strict=strict, today=today, max_attachments=max_attachments)
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
    _add_extra(code, h.code.extra)
    info = _node(mh, "PromulgationInfo")
    _sub(info, "Place", h.promulgation_info.place)
    _sub(info, "PromulgationDate", h.promulgation_info.promulgation_date)
    _add_extra(info, h.promulgation_info.extra)
    doc_type = _node(mh, "DocumentType")
    _sub(doc_type, "Type", h.document_type.type)
    _add_extra(doc_type, h.document_type.extra)  # the library's TypeDetail sits between Type and TypeName
    _sub(doc_type, "TypeName", h.document_type.type_name)
    _sub(mh, "Subject", h.subject)
    _sub(mh, "Content", h.content)
    signer = _node(mh, "SignerInfo")
    _sub(signer, "Competence", h.signer_info.competence)
    _sub(signer, "Position", h.signer_info.position)
    _sub(signer, "FullName", h.signer_info.full_name)
    _add_extra(signer, h.signer_info.extra)
    _sub(mh, "DueDate", h.due_date)
    o = h.other_info
    other = _node(mh, "OtherInfo")
    _sub(other, "Priority", o.priority)
    _sub(other, "SphereOfPromulgation", o.sphere_of_promulgation)
    _sub(other, "TyperNotation", o.typer_notation)
    _sub(other, "PromulgationAmount", o.promulgation_amount)
    _sub(other, "PageAmount", o.page_amount)
    _add_extra(other, o.extra)  # Direction, ReplyFors, ReferenceCodes sit before Appendixes in the library
    appendixes = _node(other, "Appendixes")
    for appendix in o.appendixes:
        _sub(appendixes, "Appendix", appendix)
    for rf in h.response_for:
        _add_response_for(mh, rf)
    _sub(mh, "SteeringType", h.steering_type)
    _add_extra(mh, h.extra)  # ResponseForTask, ApplicationType
    if h.to_places:
        places = _node(mh, "ToPlaces")
        for place in h.to_places:
            _sub(places, "Place", place)

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
        _add_extra(hop, th.extra)
    _add_business(trace, t.business)
    _add_extra(trace, t.extra)
    _add_extra(header, packet.extra)

    # The XML-DSig slot: empty until the packet is signed (docsign.exchange.xmlsig fills it); a signature
    # read from elsewhere is written back as it was (it only verifies over the bytes it was made for).
    if packet.signature:
        header.append(etree.fromstring(packet.signature, _EXTRA_PARSER))
    else:
        etree.SubElement(header, f"{{{DSIG_NS}}}Signature", nsmap={None: DSIG_NS})

    manifest = _node(_node(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    for a in packet.attachments:
        ref = _node(manifest, "Reference")
        _sub(ref, "ContentId", f"cid:{a.content_id}")
        _sub(ref, "ContentType", a.manifest_content_type or a.content_type)
        _sub(ref, "Description", a.description)
        _sub(ref, "AttachmentName", a.attachment_name)
    if packet.attachments:
        encoded = _node(root, "AttachmentEncoded")
        for a in packet.attachments:
            att = _node(encoded, "Attachment")
            _sub(att, "ContentId", f"cid:{a.content_id}")
            _sub(att, "AttachmentName", a.attachment_name)
            _sub(att, "Description", a.description)
            _sub(att, "ContentType", a.content_type)
            _sub(att, "ContentTransferEncoded", base64.b64encode(a.data).decode("ascii"))
            _add_extra(att, a.extra)
    return _serialize(root, max_bytes)


def build_status_packet(packet: StatusPacket, *, max_bytes: int = DEFAULT_MAX_PACKET_BYTES,
                        strict: bool = True) -> bytes:
    """The ``.edxml`` bytes of a status packet in its form (``packet.form``), after checking its fields strictly:
    QCVN 102's ``Status``, or the ``MessageHeader`` the VNPT library writes (From, ResponseFor, StaffInfo,
    StatusCode, Description, Timestamp)."""
    validate_status_packet(packet, strict=strict)
    root, _, header = _envelope()
    if packet.form is StatusForm.MESSAGE_HEADER:
        status = _node(header, "MessageHeader")
        _add_organization(status, "From", packet.from_)
        _add_response_for(status, packet.response_for)
        _add_staff(status, packet.staff_info)
        _sub(status, "StatusCode", packet.status_code.value)
        _sub(status, "Description", packet.description)
        _sub(status, "Timestamp", packet.timestamp)
    else:
        status = _node(header, "Status")
        _add_response_for(status, packet.response_for)
        _add_organization(status, "From", packet.from_)
        _sub(status, "StatusCode", packet.status_code.value)
        _sub(status, "Description", packet.description)
        _sub(status, "Timestamp", packet.timestamp)
        _add_staff(status, packet.staff_info)
    _add_extra(status, packet.extra)
    return _serialize(root, max_bytes)
