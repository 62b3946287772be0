"""Legacy PKCS#7 signatures and SHA-1 (issue 12 item 2): adbe.pkcs7.sha1 is validated (its CMS signs the
SHA-1 digest of the signed bytes), reported as PKCS7, and SHA-1 after its cut-off without proof of earlier
existence is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE_NO_POE."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docsign.verification.engine import SHA1_CUTOFF, verify_pdf
from docsign.verification.indications import SignatureFacts, classify
from docsign.verification.report import Indication, Level
from tests.unit.verification.pdfs import text_pdf, to_asn1

SHA1_PDF = Path(__file__).resolve().parents[2] / "corpus" / "dss" / "pkcs7_sha1.pdf"
"""EU DSS's test file: Signature1 is adbe.pkcs7.sha1, Signature2 adbe.pkcs7.detached with SHA-1 digests."""


def _signatures(data: bytes) -> dict[str, object]:
    return {s.field: s for s in verify_pdf(data, [], offline=True).signatures}


def test_adbe_pkcs7_sha1_is_validated_and_reported_as_pkcs7() -> None:
    sigs = _signatures(SHA1_PDF.read_bytes())
    sha1 = sigs["Signature1"]
    assert sha1.integrity and sha1.level is Level.PKCS7  # type: ignore[attr-defined]
    assert any("SHA-1" in e for e in sha1.errors)  # type: ignore[attr-defined]
    detached = sigs["Signature2"]
    assert (detached.indication, detached.sub_indication) == (  # type: ignore[attr-defined]
        Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE")


def test_adbe_pkcs7_sha1_with_a_changed_signed_byte_is_hash_failure() -> None:
    data = bytearray(SHA1_PDF.read_bytes())
    data[11] ^= 0x01  # in the binary comment of the header: still a PDF, no longer the signed bytes
    sigs = _signatures(bytes(data))
    for name in ("Signature1", "Signature2"):
        sig = sigs[name]
        assert (sig.indication, sig.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE"), name  # type: ignore[attr-defined]


def test_sha1_before_the_cut_off_is_acceptable() -> None:
    """Verified as of a time before the cut-off, the same signature has no algorithm problem."""
    sigs = verify_pdf(SHA1_PDF.read_bytes(), [], offline=True, at=SHA1_CUTOFF - dt.timedelta(days=1)).signatures
    assert all(s.sub_indication != "CRYPTO_CONSTRAINTS_FAILURE_NO_POE" for s in sigs)


def test_weak_algorithm_ranks_after_a_missing_chain_and_before_unknown_revocation() -> None:
    no_poe = AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE
    assert classify(SignatureFacts(crypto_problem=no_poe)) == (Indication.INDETERMINATE,
                                                                "CRYPTO_CONSTRAINTS_FAILURE_NO_POE")
    assert classify(SignatureFacts(crypto_problem=no_poe, certificate_problem=AdESIndeterminate.TRY_LATER)) == (
        Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE")
    assert classify(SignatureFacts(crypto_problem=no_poe,
                                   certificate_problem=AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND)) == (
        Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")


def _chain_signed_with(digest: hashes.HashAlgorithm) -> tuple[asn1_x509.Certificate, signers.SimpleSigner]:
    """A root (SHA-256) and a signer certificate the root signs with ``digest``; keys made here, never kept."""
    root_key, signer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SHA-1 test root")])
    signer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SHA-1 test signer")])
    start, end = dt.datetime(2010, 1, 1, tzinfo=dt.UTC), dt.datetime(2040, 1, 1, tzinfo=dt.UTC)

    def certificate(subject, key, issuer, issuer_key, ca, algorithm):  # type: ignore[no-untyped-def]
        usage = x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                              encipher_only=False, decipher_only=False)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(usage, critical=True).sign(issuer_key, algorithm))

    root = to_asn1(certificate(root_name, root_key, root_name, root_key, True, hashes.SHA256()))
    leaf = to_asn1(certificate(signer_name, signer_key, root_name, root_key, False, hashes.SHA256()))
    if isinstance(digest, hashes.SHA1):  # cryptography's builder no longer signs with SHA-1: re-sign the TBS
        tbs = leaf["tbs_certificate"].copy()
        tbs["signature"] = asn1_algos.SignedDigestAlgorithm({"algorithm": "sha1_ecdsa"})
        leaf = asn1_x509.Certificate({
            "tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sha1_ecdsa"},
            "signature_value": root_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA1()))})
    key_der = signer_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    signer = signers.SimpleSigner(signing_cert=leaf, signing_key=load_private_key_from_pemder_data(
        key_der, passphrase=None), cert_registry=SimpleCertificateStore.from_certs([root]))
    return root, signer


def _signed_by(signer: signers.SimpleSigner) -> bytes:
    out = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(text_pdf())),
                     signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer, output=out)
    return out.getvalue()


def test_a_certificate_signed_with_sha1_follows_the_sha1_policy() -> None:
    """certvalidator refuses SHA-1-signed certificates outright; docsign builds the chain and applies the
    dated SHA-1 rule to it, as to SHA-1 digests: after the cut-off without proof, CRYPTO_CONSTRAINTS_FAILURE_NO_POE."""
    root, signer = _chain_signed_with(hashes.SHA1())
    data = _signed_by(signer)
    sig = verify_pdf(data, [root], offline=True).signatures[0]
    assert sig.trusted and sig.integrity, sig.errors
    assert (sig.indication, sig.sub_indication) == (Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE")
    assert any("SHA-1" in e for e in sig.errors)
    # the same chain with SHA-256 has no algorithm problem: the SHA-1 certificate alone makes the difference
    root, signer = _chain_signed_with(hashes.SHA256())
    sig = verify_pdf(_signed_by(signer), [root], offline=True).signatures[0]
    assert sig.trusted and sig.indication is Indication.TOTAL_PASSED, sig.errors
