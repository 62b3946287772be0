"""Whose XML signature an edXML packet carries: outgoing packets are sealed with the sending agency's
registered seal key; incoming packets must carry a valid signature by the From agency's seal, unless
that agency is configured as a peer that sends unsigned packets (``Agency.sends_unsigned_packets``).

The signature itself is :mod:`docsign.exchange.xmlsig`; which certificate is an agency's seal is the
exchange's one seal-ownership check (:func:`docsign.exchange.verdicts.seal_owned_by`).
"""

from __future__ import annotations

import logging

from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import Session

from docsign.config import Settings
from docsign.exchange import xmlsig
from docsign.models import Agency
from docsign.pki.keys import KeyHandle, key_spec_for, load_key
from docsign.signing.errors import KeyNotFound
from docsign.verification.report import Signer

log = logging.getLogger(__name__)


def seal_key(session: Session, settings: Settings, agency: Agency) -> KeyHandle | None:
    """The agency's registered seal key, loaded (None when it has none registered)."""
    try:
        return load_key(key_spec_for(session, f"agency:{agency.code}", settings))
    except KeyNotFound:
        return None


def seal_outgoing(session: Session, settings: Settings, sender: Agency, packet: bytes) -> bytes:
    """``packet`` signed with ``sender``'s seal. An agency without a registered seal key sends it unsigned
    (its peers accept that only if configured to); a seal that cannot be opened is an error."""
    key = seal_key(session, settings, sender)
    if key is None:
        log.warning("agency %s has no registered seal key: its packet goes out without an XML signature", sender.code)
        return packet
    return xmlsig.sign_packet(packet, key)


def signer_of(certificate: asn1_x509.Certificate) -> Signer:
    """The verification report's view of a certificate (what the seal-ownership check reads)."""
    return Signer.of_certificate(certificate)


def signature_problems(session: Session, settings: Settings, signature: xmlsig.PacketSignature,
                       agency: Agency, what: str) -> list[str]:
    """Why ``signature`` is not a valid signature by ``agency``'s seal (empty when it is)."""
    from docsign.exchange.verdicts import seal_owned_by

    if not signature.valid:
        return [f"{what}: " + "; ".join(signature.problems)]
    assert signature.certificate is not None
    if not seal_owned_by(session, [signer_of(signature.certificate)], agency):
        return [f"{what} is signed by {signature.signer}, which is not the seal of {agency.name} ({agency.code})"]
    return []


def incoming_problems(session: Session, settings: Settings, packet: bytes, sender: Agency) -> list[str]:
    """Why an incoming packet's XML signature is not acceptable from ``sender`` (empty when it is)."""
    from docsign.exchange.verdicts import PACKET_VERDICTS

    signature = PACKET_VERDICTS.verify(settings, packet)  # checked once for all recipients of the packet
    if not signature.present or signature.foreign_form:
        if sender.sends_unsigned_packets:
            return []
        what = "no XML signature" if not signature.present else "no XML-DSig signature (" + signature.problems[0] + ")"
        return [f"the packet carries {what}, and {sender.code} is not configured to send unsigned packets"]
    return signature_problems(session, settings, signature, sender, "the packet's XML signature")
