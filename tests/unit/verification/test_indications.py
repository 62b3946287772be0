"""The pyHanko -> ETSI mapping table, one row per case."""

from __future__ import annotations

import pytest
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate

from docsign.verification.indications import SignatureFacts, TotalFailed, classify
from docsign.verification.report import Indication, Modifications, document_indication

P, F, U = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE


@pytest.mark.parametrize(("facts", "expected"), [
    (SignatureFacts(), (P, None)),
    (SignatureFacts(modifications=Modifications.LTA_UPDATES), (P, None)),
    (SignatureFacts(modifications=Modifications.FORM_FILLING, docmdp_ok=True), (P, None)),
    (SignatureFacts(format_error="bad ByteRange", digest_ok=False), (F, "FORMAT_FAILURE")),
    (SignatureFacts(digest_ok=False, certificate_problem=AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND),
     (F, "HASH_FAILURE")),
    (SignatureFacts(der_ok=False), (F, "HASH_FAILURE")),
    (SignatureFacts(signature_ok=False), (F, "SIG_CRYPTO_FAILURE")),
    (SignatureFacts(modifications=Modifications.OTHER), (F, "SIG_CONSTRAINTS_FAILURE")),
    (SignatureFacts(modifications=Modifications.ANNOTATIONS, docmdp_ok=False), (F, "SIG_CONSTRAINTS_FAILURE")),
    (SignatureFacts(modifications=Modifications.OTHER, certificate_problem=AdESIndeterminate.TRY_LATER),
     (F, "SIG_CONSTRAINTS_FAILURE")),
    (SignatureFacts(certificate_problem=AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND),
     (U, "NO_CERTIFICATE_CHAIN_FOUND")),
    (SignatureFacts(certificate_problem=AdESIndeterminate.REVOKED_NO_POE), (U, "REVOKED_NO_POE")),
    (SignatureFacts(certificate_problem=AdESFailure.REVOKED), (F, "REVOKED")),
    (SignatureFacts(certificate_problem=TotalFailed.EXPIRED), (F, "EXPIRED")),
    (SignatureFacts(certificate_problem=AdESIndeterminate.OUT_OF_BOUNDS_NO_POE), (U, "OUT_OF_BOUNDS_NO_POE")),
    (SignatureFacts(certificate_problem=AdESIndeterminate.TRY_LATER), (U, "TRY_LATER")),
    (SignatureFacts(certificate_problem=AdESFailure.NOT_YET_VALID), (F, "NOT_YET_VALID")),
])
def test_table(facts, expected):  # type: ignore[no-untyped-def]
    assert classify(facts) == expected


@pytest.mark.parametrize(("indications", "expected"), [
    ([], Indication.NO_SIGNATURE),
    ([P, P], P),
    ([P, U], U),
    ([U, F, P], F),
])
def test_document_indication(indications, expected):  # type: ignore[no-untyped-def]
    assert document_indication(indications) is expected
