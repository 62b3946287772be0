"""What a packet says, for `docsign exchange inspect`: read without importing anything, as plain JSON-ready data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from asn1crypto import x509 as asn1_x509

from docsign.exchange import edxml


def packet_report(data: bytes, *, max_bytes: int = edxml.DEFAULT_MAX_PACKET_BYTES,
                  trust_roots: Sequence[asn1_x509.Certificate] = ()) -> dict[str, Any]:
    """The fields of a document or status packet; raises the parser's InvalidInput (with the field path)
    when the packet cannot be read."""
    packet = edxml.parse_packet(data, max_bytes=max_bytes)
    if isinstance(packet, edxml.StatusPacket):
        rf = packet.response_for
        return {
            "kind": "status",
            "form": packet.form.value,
            "from": _organization(packet.from_),
            "to": [],
            "document_id": rf.document_id,
            "code": rf.code,
            "promulgation_date": _date(rf.promulgation_date),
            "responds_to_agency": rf.organ_id,
            "status_code": packet.status_code.value,
            "status": f"{packet.status_code.label_vi} / {packet.status_code.label_en}",
            "description": packet.description,
            "timestamp": packet.timestamp.isoformat(),
            "staff": packet.staff_info.staff,
            "department": packet.staff_info.department,
            "attachments": [],
            "signature": packet_signature(data, packet.signature, trust_roots),
        }
    h, business = packet.message_header, packet.trace_header_list.business
    return {
        "kind": "document",
        "from": _organization(h.from_),
        "to": [_organization(o) for o in h.to],
        "document_id": h.document_id,
        "number": h.code.code_number,
        "notation": h.code.code_notation,
        "subject": h.subject,
        "promulgation_date": _date(h.promulgation_info.promulgation_date),
        "place": h.promulgation_info.place,
        "document_type": h.document_type.type_name,
        "signer": h.signer_info.full_name,
        "due_date": _date(h.due_date),
        "business_type": business.business_doc_type,
        "business_reason": business.business_doc_reason,
        "related_document_ids": list(business.related_document_ids(h.document_id)),
        "trace": [{"organ_id": t.organ_id, "timestamp": t.timestamp.isoformat()}
                  for t in packet.trace_header_list.trace_headers],
        "attachments": [
            {"name": a.attachment_name, "content_type": a.content_type, "size": len(a.data),
             "sha256": hashlib.sha256(a.data).hexdigest()}
            for a in packet.attachments
        ],
        "signature": packet_signature(data, packet.signature, trust_roots),
    }


def packet_signature(data: bytes, signature_xml: str,
                     trust_roots: Sequence[asn1_x509.Certificate] = ()) -> dict[str, Any]:
    """Whether the packet carries an XML signature and whether it verifies (:func:`xmlsig.verify_packet`,
    offline: inspecting a packet fetches nothing); ``valid`` is None when there is no signature."""
    from docsign.exchange import xmlsig

    result = xmlsig.verify_packet(data, trust_roots=trust_roots, offline=True)
    if not result.present:
        return {"present": False, "valid": None, "detail": "absent"}
    detail = f"valid, signed by {result.signer}" if result.valid else "NOT valid: " + "; ".join(result.problems)
    return {"present": True, "valid": result.valid, "signer": result.signer, "problems": list(result.problems),
            "detail": detail}


def _organization(org: edxml.Organization) -> dict[str, str]:
    return {"organ_id": org.organ_id, "name": org.organ_name}


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
