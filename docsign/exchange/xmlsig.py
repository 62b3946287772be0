"""The XML signature of an edXML packet: an enveloped XML-DSig over the whole packet (QCVN 102 §1.4).

The packet's ``edXMLHeader/Signature`` slot (left empty by most writers) receives a W3C XML-DSig made
with the sending agency's seal: RSA-SHA256 (ECDSA-SHA256 for an EC seal), SHA-256 digests, inclusive
C14N 1.0 (what the Java libraries of the national axis read), one Reference to the whole document
(``URI=""``) with the enveloped-signature transform, and ``KeyInfo/X509Data`` carrying the seal's
certificate and its CA certificates. The legal signatures stay in the PDF (PAdES); this one makes the
packet's metadata authentic.

Keys come from :mod:`docsign.pki.keys` (the one loading place) as a :class:`KeyHandle`; signxml is
handed a small adapter that signs through the handle, so a seal on a PKCS#11 token signs exactly as
a PKCS#12 or PEM one does (the private key never leaves the token).

Pure domain code: no database. Whose seal signed a packet is decided by the caller
(:mod:`docsign.exchange.receipts`), from :attr:`PacketSignature.certificate`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from pyhanko_certvalidator import CertificateValidator
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

from docsign import aio
from docsign.errors import InvalidInput as DocsignInvalidInput
from docsign.exchange.errors import InvalidPacket, UnsafeXml
from docsign.pki.keys import KeyHandle
from docsign.pki.outbound import FetchCache
from docsign.pki.trust import build_validation_context, remember_fetched
from docsign.verification import parsed

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
C14N = CanonicalizationMethod.CANONICAL_XML_1_0
ACCEPTED_SIGNATURE_METHODS = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512,
})
ACCEPTED_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


@dataclass(frozen=True)
class PacketSignature:
    """What a packet's XML signature says. ``valid`` only when present, intact and chained to a trust
    anchor; ``problems`` says why not, in words a clerk can act on."""

    present: bool
    valid: bool
    signer: str | None = None
    """The signing certificate's subject, human readable."""
    problems: tuple[str, ...] = ()
    certificate: asn1_x509.Certificate | None = field(default=None, repr=False, compare=False)
    """The signing certificate (also when the signature is invalid), for the seal-ownership check."""
    foreign_form: bool = False
    """A ``Signature`` that is not W3C XML-DSig (the shape under edXML's namespace, as the VPCP SDK's and
    Bkav's samples carry it): nothing can verify it, so a receiver treats the packet as unsigned."""

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "valid": self.valid, "signer": self.signer, "problems": list(self.problems)}


class _HandleKey:
    """A :class:`KeyHandle` in the shape signxml's signer uses (``key.sign(data, padding=, algorithm=)``,
    ``key.key_size``), so software and token keys sign through the one loading place."""

    def __init__(self, handle: KeyHandle) -> None:
        self.handle = handle
        public = x509.load_der_x509_certificate(handle.certificate.dump()).public_key()
        self.key_size: int = public.key_size  # type: ignore[union-attr]

    def sign(self, data: bytes, padding: Any = None, algorithm: hashes.HashAlgorithm | None = None,
             signature_algorithm: ec.ECDSA | None = None) -> bytes:
        chosen = algorithm if algorithm is not None else signature_algorithm.algorithm  # type: ignore[union-attr]
        return self.handle.sign(data, chosen.name)


def _parser() -> etree.XMLParser:
    # huge_tree: a packet carries its attachments in base64 text nodes of many MB; DTDs are refused before parsing
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def parse_packet_xml(xml_bytes: bytes) -> etree._Element:
    """The packet's root element, parsed without DTDs, entities or network access."""
    if any(marker in xml_bytes for marker in _DTD_MARKERS):
        raise UnsafeXml("the packet declares a DOCTYPE or entities; edXML packets must not contain DTDs")
    try:
        return etree.fromstring(xml_bytes, _parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidPacket(f"the packet is not well-formed XML: {exc}") from None


def _signatures(root: etree._Element) -> list[etree._Element]:
    """XML-DSig ``Signature`` elements, and the header's ``Signature`` in another namespace (the VPCP SDK's
    samples write the XML-DSig shape under edXML's default namespace)."""
    found = list(root.iter(f"{{{DSIG_NS}}}Signature"))
    header = root.find(f"{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader")
    if header is not None:
        found += [e for e in header if isinstance(e.tag, str) and etree.QName(e).localname == "Signature"
                  and e not in found]
    return found


def _is_empty(signature: etree._Element) -> bool:
    """A slot or a template: no SignedInfo, or no SignatureValue in it."""
    ns = etree.QName(signature).namespace
    value = signature.findtext(f"{{{ns}}}SignatureValue" if ns else "SignatureValue")
    return signature.find(f"{{{ns}}}SignedInfo" if ns else "SignedInfo") is None or not (value or "").strip()


def sign_packet(xml_bytes: bytes, key: KeyHandle) -> bytes:
    """``xml_bytes`` with an enveloped XML-DSig made with ``key`` in its header's Signature slot.

    An empty ``Signature`` element in ``edXMLHeader`` is filled; without one, the signature is added at
    the end of the header. A packet that already carries a signature is refused (sign once, last)."""
    root = parse_packet_xml(xml_bytes)
    existing = _signatures(root)
    if any(not _is_empty(s) for s in existing):
        raise DocsignInvalidInput("the packet is already signed")
    header = root.find(f"{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader")
    if header is None:
        raise InvalidPacket("edXMLEnvelope/edXMLHeader: required (no place for the packet signature)")
    slot = next((s for s in existing if s.getparent() is header and etree.QName(s).namespace == DSIG_NS), None)
    for stray in existing:  # other writers' empty templates
        if stray is not slot:
            stray.getparent().remove(stray)
    if slot is None:
        slot = etree.SubElement(header, f"{{{DSIG_NS}}}Signature", nsmap={None: DSIG_NS})
    slot.set("Id", "placeholder")  # signxml's marker for where an enveloped signature goes
    method = SignatureMethod.RSA_SHA256 if key.key_algorithm == "rsa" else SignatureMethod.ECDSA_SHA256
    signer = XMLSigner(signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=C14N)
    signer._parser = _parser()  # signxml re-parses the document; its default parser stops at 10 MB text nodes
    certs = [x509.load_der_x509_certificate(c.dump()) for c in (key.certificate, *key.chain)]
    signed = signer.sign(root, key=_HandleKey(key), cert=certs)
    signature = signed.find(f".//{{{DSIG_NS}}}Signature")
    if signature is not None and signature.get("Id") == "placeholder":
        del signature.attrib["Id"]  # not covered by the digest (the enveloped transform removes it)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def verify_packet(xml_bytes: bytes, *, trust_roots: Sequence[asn1_x509.Certificate] = (), offline: bool = False,
                  moment: dt.datetime | None = None) -> PacketSignature:
    """Check the packet's XML signature: intact, covering the whole packet, and made with a certificate
    that chains to one of ``trust_roots`` (revocation checked when reachable, unless ``offline``).

    Never raises for a bad signature: the result says what is wrong. A packet that is not XML raises
    :class:`InvalidPacket`."""
    root = parse_packet_xml(xml_bytes)
    signatures = [s for s in _signatures(root) if not _is_empty(s)]
    if not signatures:
        return PacketSignature(present=False, valid=False, problems=("the packet carries no XML signature",))
    if len(signatures) > 1:
        return PacketSignature(present=True, valid=False, problems=("the packet carries more than one XML signature",))
    signature = signatures[0]
    if etree.QName(signature).namespace != DSIG_NS:
        return PacketSignature(present=True, valid=False, foreign_form=True, problems=(
            f"the Signature element is in the namespace {etree.QName(signature).namespace!r}, not XML-DSig's "
            f"({DSIG_NS})",))
    certs = _key_info_certificates(signature)
    if not certs:
        return PacketSignature(present=True, valid=False,
                               problems=("the XML signature carries no X509Certificate in its KeyInfo",))
    signing = certs[0]
    signer = signing.subject.human_friendly
    problems = _signature_problems(root, signature, signing)
    if not problems:
        problems = _chain_problems(signing, certs[1:], trust_roots, offline=offline, moment=moment)
    return PacketSignature(present=True, valid=not problems, signer=signer, problems=tuple(problems),
                           certificate=signing)


def _key_info_certificates(signature: etree._Element) -> list[asn1_x509.Certificate]:
    found = []
    for element in signature.iterfind(f"{{{DSIG_NS}}}KeyInfo/{{{DSIG_NS}}}X509Data/{{{DSIG_NS}}}X509Certificate"):
        try:
            # the process's parsed copy of these bytes: a seal's certificates come back on every packet
            found.append(parsed.certificate(base64.b64decode("".join((element.text or "").split()))))
            found[-1].native  # noqa: B018 - parse now: a broken certificate is a problem, not a crash later
        except (ValueError, TypeError):
            return []
    return found


def _signature_problems(root: etree._Element, signature: etree._Element, signing: asn1_x509.Certificate) -> list[str]:
    references = signature.findall(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        return ['the XML signature must have exactly one Reference, to the whole packet (URI="")']
    config = SignatureConfiguration(require_x509=True, signature_methods=ACCEPTED_SIGNATURE_METHODS,
                                    digest_algorithms=ACCEPTED_DIGESTS, expect_references=1)
    try:
        XMLVerifier().verify(root, x509_cert=x509.load_der_x509_certificate(signing.dump()), expect_config=config,
                             parser=_parser())
    except InvalidDigest:
        return ["the packet was changed after it was signed (XML signature digest mismatch)"]
    except InvalidCertificate as exc:
        return [f"the XML signature's certificate cannot be used: {exc}"]
    except InvalidSignature as exc:
        return [f"the XML signature does not verify: {exc}"]
    except (InvalidInput, ValueError) as exc:
        return [f"the XML signature cannot be read: {exc}"]
    return []


CHAIN_VERDICT_SECONDS = 5.0
CHAIN_VERDICTS = FetchCache(max_items=256, max_age=CHAIN_VERDICT_SECONDS)
"""Certificates this process found chained to the trust anchors a moment ago, by the exact bytes of the
certificate, of the others the signature carries and of the anchors (:func:`_chain_key`): a seal signs every
packet and receipt of its agency, and validating its path again within seconds gives the same answer. Only
passes are kept, only for validation at the present time, and for :data:`CHAIN_VERDICT_SECONDS` — far
shorter than the minutes for which the OCSP answers behind them are reused anyway
(:data:`docsign.pki.outbound.FETCH_CACHE_MAX_AGE_SECONDS`), so no revocation is noticed later than it would
be without this."""


def _chain_key(signing: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate],
               trust_roots: Sequence[asn1_x509.Certificate]) -> bytes:
    digest = hashlib.sha256(signing.dump())
    for cert in others:
        digest.update(b"o" + hashlib.sha256(cert.dump()).digest())
    for cert in sorted(hashlib.sha256(root.dump()).digest() for root in trust_roots):
        digest.update(b"r" + cert)
    return digest.digest()


def _chain_problems(signing: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate],
                    trust_roots: Sequence[asn1_x509.Certificate], *, offline: bool,
                    moment: dt.datetime | None) -> list[str]:
    if not trust_roots:
        return ["no trust anchors to check the XML signature's certificate against"]
    reusable = moment is None and not offline
    key = _chain_key(signing, others, trust_roots) if reusable else b""
    if reusable and CHAIN_VERDICTS.get(key):
        return []
    context = build_validation_context(trust_roots, offline=offline, other_certs=others, moment=moment,
                                       use_cache=True)
    validator = CertificateValidator(signing, list(others), context)
    try:
        aio.run(validator.async_validate_usage(set()))
    except Exception as exc:  # certvalidator's path-building and revocation errors
        return [f"the XML signature's certificate ({signing.subject.human_friendly}) is not trusted: {exc}"]
    finally:
        remember_fetched(context)  # the next packets of this seal reuse the OCSP responses and CRLs
    if reusable:
        CHAIN_VERDICTS.put(key, True, until=time.time() + CHAIN_VERDICT_SECONDS)
    return []
