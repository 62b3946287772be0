"""The fast path: a pyHanko :class:`Signer` that does per signature only what must change.

Plain pyHanko (``SimpleSigner.load`` + ``sign_pdf``) spends ~99 % of a B-B signature outside the
RSA operation: it decrypts the key file, re-parses the private key for every raw signature, signs
twice (a dry run to size the /Contents placeholder), and re-encodes every certificate through
asn1crypto each time. Here, per loaded key and process:

* the key is opened once (:func:`docsign.pki.keys.load_key` caches it);
* the CMS pieces that never change (certificates, SignerIdentifier, algorithm identifiers, and the
  signed attributes except the message digest) are DER-encoded once;
* the placeholder size is computed from those sizes, so no dry-run signature is made.

Per signature this signer only patches the document digest into the signed-attributes template,
makes one raw signature, fetches a timestamp token when asked, and concatenates DER. The result is
an ordinary CAdES-detached SignedData, byte-for-byte what asn1crypto would produce.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from asn1crypto import algos, cms
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docsign.pki.keys import KeyHandle

OID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
OID_DATA = bytes.fromhex("06092a864886f70d010701")
# room for the parts whose size this module does not pin down exactly (attribute sets, headers)
SLACK_BYTES = 1024


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


@dataclass(frozen=True)
class _Template:
    """DER pieces fixed for one key and digest algorithm."""

    digest_algorithm_der: bytes
    signature_algorithm_der: bytes
    sid_der: bytes
    certificates_der: bytes
    """[0] IMPLICIT SET OF Certificate, DER-sorted."""
    signed_attrs_der: bytes
    """SET OF Attribute with a marker where the message digest goes."""
    marker: bytes


class FastSigner(Signer):
    """Signs with a loaded :class:`KeyHandle`; PAdES/CAdES-detached, one SignerInfo."""

    def __init__(self, key: KeyHandle, *, embed_roots: bool = True) -> None:
        registry = SimpleCertificateStore.from_certs([key.certificate, *key.chain])
        super().__init__(signing_cert=key.certificate, cert_registry=registry, embed_roots=embed_roots)
        self.key = key
        self._templates: dict[tuple[str, bool], _Template] = {}
        self._lock = threading.Lock()

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(self.key.signature_size)
        return self.key.sign(data, digest_algorithm)

    def reserved_size(self, digest_algorithm: str, timestamp_token_size: int = 0) -> int:
        """Bytes for the hex /Contents placeholder: twice the largest DER CMS this signer can make."""
        cert_bytes = sum(len(c.dump()) for c in (self.key.certificate, *self.key.chain))
        der = cert_bytes + self.key.signature_size + 2 * len(self.key.certificate.issuer.dump()) + SLACK_BYTES
        if timestamp_token_size:
            der += timestamp_token_size + timestamp_token_size // 4 + 64  # TSA answers vary a little
        return 2 * der

    async def _template(self, digest_algorithm: str, use_pades: bool,
                        attrs: PdfCMSSignedAttributes | None) -> _Template:
        static = use_pades and _is_static(attrs)
        cached = self._templates.get((digest_algorithm, use_pades)) if static else None
        if cached is not None:
            return cached
        marker = secrets.token_bytes(len(_empty_digest(digest_algorithm)))
        # pyHanko decides what the signed attributes are; we only reuse its encoding
        signed = await self.signed_attrs(marker, digest_algorithm, attr_settings=attrs, use_pades=use_pades)
        cert = self.key.certificate
        sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})})
        certs = [self.key.certificate, *self.key.chain]
        if not self.embed_roots:
            certs = [c for c in certs if c is self.key.certificate or c.self_signed == "no"]
        template = _Template(
            digest_algorithm_der=algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump(),
            signature_algorithm_der=self.get_signature_mechanism_for_digest(digest_algorithm).dump(),
            sid_der=sid.chosen.dump(),
            certificates_der=tlv(0xA0, b"".join(sorted(c.dump() for c in certs))),
            signed_attrs_der=signed.dump(),
            marker=marker,
        )
        if template.signed_attrs_der.count(marker) != 1:  # pragma: no cover - 2^-256
            raise RuntimeError("digest marker is not unique in the signed attributes")
        if static:
            with self._lock:
                self._templates[(digest_algorithm, use_pades)] = template
        return template

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False, timestamper: TimeStamper | None = None,
                         signed_attr_settings: PdfCMSSignedAttributes | None = None, is_pdf_sig: bool = True,
                         encap_content_info: object = None) -> cms.ContentInfo:
        if encap_content_info is not None or not is_pdf_sig or self.signed_attr_prov_spec is not None:
            # not a PDF signature: let pyHanko do it the general way
            return await super().async_sign(data_digest, digest_algorithm, dry_run, use_pades, timestamper,
                                            signed_attr_settings, is_pdf_sig, encap_content_info)
        digest_algorithm = digest_algorithm.lower()
        template = await self._template(digest_algorithm, use_pades, signed_attr_settings)
        signed_attrs = template.signed_attrs_der.replace(template.marker, data_digest)
        signature = await self.async_sign_raw(signed_attrs, digest_algorithm, dry_run)
        unsigned = b""
        if timestamper is not None:
            attrs = await self.unsigned_attrs(digest_algorithm, signature,
                                              signed_attrs=cms.CMSAttributes.load(signed_attrs),
                                              timestamper=timestamper, dry_run=dry_run)
            if attrs is not None:
                unsigned = b"\xa1" + attrs.dump()[1:]
        signer_info = tlv(0x30, b"".join((
            b"\x02\x01\x01", template.sid_der, template.digest_algorithm_der,
            b"\xa0" + signed_attrs[1:], template.signature_algorithm_der, tlv(0x04, signature), unsigned,
        )))
        signed_data = tlv(0x30, b"".join((
            b"\x02\x01\x01", tlv(0x31, template.digest_algorithm_der), tlv(0x30, OID_DATA),
            template.certificates_der, tlv(0x31, signer_info),
        )))
        return cms.ContentInfo.load(tlv(0x30, OID_SIGNED_DATA + tlv(0xA0, signed_data)))


def _empty_digest(digest_algorithm: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from pyhanko.sign.general import get_pyca_cryptography_hash

    return hashes.Hash(get_pyca_cryptography_hash(digest_algorithm)).finalize()


def _is_static(attrs: PdfCMSSignedAttributes | None) -> bool:
    """PAdES signed attributes that do not change between signatures (signing-time is not among them)."""
    return attrs is None or (attrs.cades_signed_attrs is None and attrs.adobe_revinfo_attr is None)


_signers_lock = threading.Lock()


def signer_for(key: KeyHandle) -> FastSigner:
    """One :class:`FastSigner` per loaded key, kept for the life of the process."""
    signer = key.extras.get("fast_signer")
    if signer is None:
        with _signers_lock:
            signer = key.extras.setdefault("fast_signer", FastSigner(key))
    assert isinstance(signer, FastSigner)
    return signer
