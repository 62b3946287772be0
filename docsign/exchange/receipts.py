"""Signed receipts: a status 01 that proves what arrived, and when (non-repudiation of receipt, as AS4
receipts give).

The recipient adds a ``Receipt`` element (namespace :data:`RECEIPT_NS`; other systems skip it as an
unknown element) to the header of its 01 status packet: the DocumentId, the SHA-256 of the PDF it
received and the arrival time, and signs the whole packet with its seal (:mod:`xmlsig`). The sender
checks that the signature verifies, that it is the recipient's seal, and that the receipt names the
document and the exact bytes it sent; the outcome is kept on the status event
(``receipt_verified``, ``receipt_note``) and shown by ``docsign exchange show`` and the web page.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from lxml import etree
from sqlalchemy.orm import Session

from docsign import audit
from docsign.config import Settings
from docsign.exchange import xmlsig
from docsign.exchange.errors import InvalidPacket
from docsign.exchange.packet_seals import seal_key, signature_problems
from docsign.models import Agency, Delivery, StatusEvent
from docsign.pki.trust import trust_roots

log = logging.getLogger(__name__)
RECEIPT_NS = "urn:docsign:edxml:receipt:1"
ARRIVED = "01"
VN_TZ = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True)
class Receipt:
    document_id: str
    pdf_sha256: str
    """Lowercase hex SHA-256 of the PDF as received."""
    arrived_at: dt.datetime
    receiver_code: str


def add_receipt(status_packet: bytes, receipt: Receipt) -> bytes:
    """``status_packet`` with the ``Receipt`` element at the end of its header (before a signature slot)."""
    root = xmlsig.parse_packet_xml(status_packet)
    header = root.find(f"{{{xmlsig.EDXML_NS}}}edXMLEnvelope/{{{xmlsig.EDXML_NS}}}edXMLHeader")
    if header is None:
        raise InvalidPacket("edXMLEnvelope/edXMLHeader: required")
    element = etree.Element(f"{{{RECEIPT_NS}}}Receipt", nsmap={None: RECEIPT_NS})
    for name, value in (("DocumentId", receipt.document_id), ("Sha256", receipt.pdf_sha256),
                        ("ArrivedAt", receipt.arrived_at.astimezone(VN_TZ).isoformat(timespec="seconds")),
                        ("ReceiverOrganId", receipt.receiver_code)):
        etree.SubElement(element, f"{{{RECEIPT_NS}}}{name}").text = value
    slot = header.find(f"{{{xmlsig.DSIG_NS}}}Signature")
    if slot is not None:
        slot.addprevious(element)
    else:
        header.append(element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def read_receipt(status_packet: bytes) -> Receipt | None:
    """The receipt a status packet carries, or None."""
    root = xmlsig.parse_packet_xml(status_packet)
    element = next(root.iter(f"{{{RECEIPT_NS}}}Receipt"), None)
    if element is None:
        return None

    def text(name: str) -> str:
        return (element.findtext(f"{{{RECEIPT_NS}}}{name}") or "").strip()

    try:
        arrived_at = dt.datetime.fromisoformat(text("ArrivedAt"))
    except ValueError:
        raise InvalidPacket(f"Receipt/ArrivedAt: not an ISO 8601 time ({text('ArrivedAt')!r})") from None
    if arrived_at.tzinfo is None:
        raise InvalidPacket("Receipt/ArrivedAt: the time zone is missing")
    return Receipt(text("DocumentId"), text("Sha256").lower(), arrived_at, text("ReceiverOrganId"))


def receipt_sealer(session: Session, settings: Settings, recipient: Agency, receipt: Receipt):  # type: ignore[no-untyped-def]
    """A function turning the recipient's 01 packet into a signed receipt (the 01 goes out as written when
    the recipient has no registered seal key; the sender then records it as unverified)."""
    key = seal_key(session, settings, recipient)

    def seal(status_packet: bytes) -> bytes:
        with_receipt = add_receipt(status_packet, receipt)
        if key is None:
            log.warning("agency %s has no registered seal key: its 01 receipt is not signed", recipient.code)
            return with_receipt
        return xmlsig.sign_packet(with_receipt, key)

    return seal


@dataclass(frozen=True)
class ReceiptCheck:
    problems: tuple[str, ...]
    signer: str | None = None
    receipt: Receipt | None = None


def check_receipt(session: Session, settings: Settings, delivery: Delivery, status_packet: bytes) -> ReceiptCheck:
    """Whether ``status_packet`` is a valid signed receipt of ``delivery`` by its recipient's seal."""
    signature = xmlsig.verify_packet(status_packet, trust_roots=trust_roots(settings))
    if not signature.present:
        return ReceiptCheck(("the 01 carries no signed receipt",))
    problems = signature_problems(session, settings, signature, delivery.recipient, "the receipt")
    if problems:
        return ReceiptCheck(tuple(problems), signature.signer)
    try:
        receipt = read_receipt(status_packet)
    except InvalidPacket as exc:
        return ReceiptCheck((exc.message,), signature.signer)
    if receipt is None:
        return ReceiptCheck(("the signed 01 carries no Receipt element",), signature.signer)
    exchange = delivery.exchange
    if receipt.document_id != exchange.edxml_document_id:
        problems = [f"the receipt is for DocumentId {receipt.document_id!r}, not {exchange.edxml_document_id!r}"]
    elif receipt.pdf_sha256 != exchange.revision.sha256:
        problems = [f"the receipt is for other bytes (SHA-256 {receipt.pdf_sha256[:16]}…, sent "
                    f"{exchange.revision.sha256[:16]}…)"]
    return ReceiptCheck(tuple(problems), signature.signer, receipt)


def record_receipt(session: Session, settings: Settings, event: StatusEvent, status_packet: bytes) -> None:
    """On the sender's side: check a 01's receipt and keep the outcome on its status event."""
    if event.code != ARRIVED:
        return
    delivery = event.delivery
    check = check_receipt(session, settings, delivery, status_packet)
    event.receipt_verified = not check.problems
    if check.problems:
        event.receipt_note = "; ".join(check.problems)[:2000]
        log.warning("receipt of delivery %s refused: %s", delivery.id, event.receipt_note)
        audit.record(session, "system", "exchange.receipt_refused", agency_id=delivery.exchange.sender_agency_id,
                     object_type="delivery", object_id=delivery.id, details={"reasons": list(check.problems)})
        return
    assert check.receipt is not None
    arrived = check.receipt.arrived_at.astimezone(VN_TZ).isoformat(timespec="seconds")
    event.receipt_note = f"{check.signer}; arrived {arrived}; SHA-256 {check.receipt.pdf_sha256}"[:2000]
