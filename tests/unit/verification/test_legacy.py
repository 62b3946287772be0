"""Legacy PKCS#7 signatures and SHA-1 (issue 12 item 2): adbe.pkcs7.sha1 is validated (its CMS signs the
SHA-1 digest of the signed bytes), reported as PKCS7, and SHA-1 after its cut-off without proof of earlier
existence is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE_NO_POE."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyhanko.sign.ades.report import AdESIndeterminate

from docsign.verification.engine import SHA1_CUTOFF, verify_pdf
from docsign.verification.indications import SignatureFacts, classify
from docsign.verification.report import Indication, Level

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
