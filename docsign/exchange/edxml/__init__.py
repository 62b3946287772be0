"""edXML packets (QCVN 102:2016): the model, its rules, a strict writer and a lenient, safe reader.

Two kinds of packet share one envelope (domain-vn.md §1):

- a **document packet**: ``MessageHeader`` (metadata), ``TraceHeaderList`` (routing trace and business
  action), a ``Signature`` slot, the manifest and the base64 attachments;
- a **status packet**: ``Status`` (01 arrived ... 16 recall refused) answering a document.

Callers import the public names from here: ``from docsign.exchange import edxml``.
"""

from docsign.exchange.edxml.model import (
    DATE_FORMAT,
    DEFAULT_MAX_ATTACHMENTS,
    DEFAULT_MAX_PACKET_BYTES,
    DSIG_NS,
    MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS,
    NS,
    TIMESTAMP_FORMAT,
    VN_TZ,
    XSD_NS,
    XSI_NS,
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
    document_id_agency,
    make_document_id,
    response_for,
    status_packet_for,
    vn_now,
)
from docsign.exchange.edxml.reader import parse_document_packet, parse_packet, parse_status_packet
from docsign.exchange.edxml.validation import validate_document_packet, validate_status_packet
from docsign.exchange.edxml.writer import build_document_packet, build_status_packet

__all__ = [
    "DATE_FORMAT",
    "DEFAULT_MAX_ATTACHMENTS",
    "DEFAULT_MAX_PACKET_BYTES",
    "DSIG_NS",
    "MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS",
    "NS",
    "TIMESTAMP_FORMAT",
    "VN_TZ",
    "XSD_NS",
    "XSI_NS",
    "Attachment",
    "Business",
    "BusinessDocumentInfo",
    "Code",
    "DocumentPacket",
    "DocumentType",
    "MessageHeader",
    "Organization",
    "OtherInfo",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusForm",
    "StatusPacket",
    "TraceHeader",
    "TraceHeaderList",
    "build_document_packet",
    "build_status_packet",
    "document_id_agency",
    "make_document_id",
    "parse_document_packet",
    "parse_packet",
    "parse_status_packet",
    "response_for",
    "status_packet_for",
    "validate_document_packet",
    "validate_status_packet",
    "vn_now",
]
