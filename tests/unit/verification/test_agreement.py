"""Agreement table: docsign's verdict on other projects' test PDFs next to what those projects' own
tests assert (tests/corpus/README.md says where each file comes from, and under which licence).

``EXPECTED`` is the other project's assertion, in one of these forms (docsign verifies offline and
without trust anchors, as those tests do, so trust is not part of the comparison):

* ``valid``: intact, valid signature, no change the project rejects (any level, or the one named:
  ``valid FORM_FILLING``); docsign: integrity, not TOTAL_FAILED, modifications not OTHER.
* ``changes``: the project rejects the changes made after signing; docsign: not TOTAL_PASSED and
  modifications OTHER or not analysable.
* ``failed`` / ``failed SUB``: TOTAL_FAILED (with that sub-indication).
* ``indeterminate`` / ``indeterminate SUB``: INDETERMINATE (with that sub-indication).
* ``not passed``: the project says the signature does not validate (no indication named).

iText's rows come from its revisions validator (changes after each signature; it does not check the
cryptography): its VALID is ``valid`` for every signature, its INVALID ``changes`` for the signature
whose later changes it rejects.

``DOCSIGN`` is what docsign reports today (indication/sub-indication/modifications): the test fails if
it changes, so each change of a verdict is seen here. A row with a ``KEPT`` reason is a disagreement
docsign keeps; every other row must agree.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from docsign.verification.engine import verify_pdf
from docsign.verification.report import Indication, SignatureReport

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
SOURCES = ("dss", "pyhanko", "itext")


class Row(NamedTuple):
    file: str
    field: str
    expected: str
    """The other project's assertion (see the module docstring)."""
    asserted_by: str
    """The test that asserts it, in that project."""
    docsign: str
    kept: str | None = None
    """Why docsign keeps a different verdict (None: they agree)."""


DSS = "dss-pades/src/test/java/eu/europa/esig/dss/pades/validation/"
PYH = "pkgs/pyhanko/tests/"
ITX = "sign/src/test/java/com/itextpdf/signatures/validation/DocumentRevisionsValidatorIntegrationTest::"
ITEXT_FREES = ("iText's incremental update marks objects of the signed revision as free (its free list); "
               "pyHanko's analysis rejects freeing an object the signed revision uses, since that object then "
               "reads as null, and iText's revision validator accepts it. docsign keeps pyHanko's rule.")
TABLE = [
    Row("dss/DSS-1683.pdf", "Signature_0", "indeterminate", DSS + "suite/DSS1683Test",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("dss/DSS-2025.pdf", "SigCS-1432220495366", "valid", DSS + "suite/DSS2025Test",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("dss/PAdES-BpB-att-SHA256-SHA3_256withRSA.pdf", "Signature1", "not passed",
        DSS + "suite/dss1420/DSS1420Sha256Test",
        "TOTAL_FAILED/SIG_CRYPTO_FAILURE/NONE"),
    Row("dss/Signature-P-PK7-2.pdf", "SigCS-1432220521731", "valid", DSS + "suite/DSS2258Test",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("dss/dss-2236-hide.pdf", "Signature1", "changes", DSS + "dss2236/DSS2236HideTest",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/None"),
    Row("dss/dss-2236-replace.pdf", "Signature2", "changes", DSS + "dss2236/DSS2236ReplaceTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("dss/pades-signed-annot-added.pdf", "Signature2", "valid ANNOTATIONS",
        DSS + "suite/PAdESLevelBWithAnnotAddedTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER",
        kept="the later revision also adds a /Names tree to the catalog; pyHanko's catalog rule does not "
             "allow it (a name tree can add JavaScript or embedded files), DSS counts it as an extension."),
    Row("dss/pades-two-sig-copied-tst.pdf", "Signature1", "valid", DSS + "suite/PAdESTwoSigWithCopiedTstTest",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("dss/pades-two-sig-copied-tst.pdf", "Signature2", "failed", DSS + "suite/PAdESTwoSigWithCopiedTstTest",
        "TOTAL_FAILED/HASH_FAILURE/NONE"),
    Row("dss/pdf-byterange-overlap.pdf", "Signature1", "valid", DSS + "suite/DSS2451Test",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("dss/pdf-byterange-overlap.pdf", "Signature2", "failed FORMAT_FAILURE", DSS + "suite/DSS2451Test",
        "TOTAL_FAILED/FORMAT_FAILURE/None"),
    Row("dss/pdf-structtreeroot-changes.pdf", "sign3", "valid",
        DSS + "suite/PdfPkcs7StructTreeRootObjectModificationsTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER",
        kept="the later revision rewrites structure-tree elements; pyHanko's difference analysis has no "
             "rule for the structure tree and calls them unexplained, DSS counts them as extension changes."),
    Row("dss/pdf-structtreeroot-changes.pdf", "sign4", "valid",
        DSS + "suite/PdfPkcs7StructTreeRootObjectModificationsTest",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("dss/pkcs7.pdf", "SIGN1", "indeterminate", DSS + "suite/PdfPkcs7Test",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("dss/pkcs7_sha1.pdf", "Signature1", "indeterminate", DSS + "suite/PdfPkcs7WithSha1SubFilterTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER",
        kept="the adbe.pkcs7.sha1 signature itself validates (SHA-1 after 2012: CRYPTO_CONSTRAINTS_FAILURE_NO_POE "
             "is among its errors), but the second signer's revision rewrites an object pyHanko's analysis "
             "cannot explain (object 55), so docsign fails it; DSS's test asserts only the formats."),
    Row("dss/pkcs7_sha1.pdf", "Signature2", "indeterminate CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
        DSS + "suite/PdfPkcs7WithSha1SubFilterTest", "INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE_NO_POE/NONE"),
    Row("pyhanko/coverage-anomalies_one-byterange.pdf", "Sig1", "not passed",
        PYH + "test_diff_analysis.py::test_anomalous_coverage",
        "TOTAL_FAILED/FORMAT_FAILURE/None"),
    Row("pyhanko/coverage-anomalies_tail-uncovered.pdf", "Sig1", "not passed",
        PYH + "test_diff_analysis.py::test_anomalous_coverage",
        "TOTAL_FAILED/FORMAT_FAILURE/OTHER"),
    Row("pyhanko/coverage-anomalies_weird-byterange.pdf", "Sig1", "not passed",
        PYH + "test_diff_analysis.py::test_anomalous_coverage",
        "TOTAL_FAILED/FORMAT_FAILURE/None"),
    Row("pyhanko/extensions-direct.pdf", "Sig1", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_diff_analysis_add_extensions_dict",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("pyhanko/extensions-indirect-not-all-paths.pdf", "Sig1", "changes",
        PYH + "test_diff_analysis.py::test_diff_analysis_update_indirect_extensions_not_all_paths",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("pyhanko/extensions-update-indirect.pdf", "Sig1", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_diff_analysis_add_extensions_dict",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("pyhanko/form-update-ap-indirect-sneaky-trailer.pdf", "Sig1", "changes",
        PYH + "test_diff_analysis.py::test_disallow_appearance_stream_override_if_clobbers",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("pyhanko/form-update-original-ap-type-wrong.pdf", "Sig1", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_appearance_update_edge_cases",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("pyhanko/form-update-override-appearance-stream-sneaky.pdf", "Sig1", "changes",
        PYH + "test_diff_analysis.py::test_disallow_appearance_stream_override_if_clobbers",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("pyhanko/form-update-override-appearance-stream.pdf", "Sig1", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_appearance_update_edge_cases",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("pyhanko/minimal-signed-twice-both-created.pdf", "Signature2", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_double_sig_adobe_reader",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/FORM_FILLING"),
    Row("pyhanko/minimal-signed-twice-both-created.pdf", "Signature3", "valid",
        PYH + "test_diff_analysis.py::test_double_sig_adobe_reader",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/NONE"),
    Row("pyhanko/minimal-signed-twice-second-created.pdf", "Sig1", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_double_sig_adobe_reader_second_created",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/FORM_FILLING"),
    Row("pyhanko/minimal-signed-twice-second-created.pdf", "Signature3", "valid",
        PYH + "test_diff_analysis.py::test_double_sig_adobe_reader_second_created",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/NONE"),
    Row("pyhanko/minimal-two-fields-signed-twice.pdf", "Sig2", "valid FORM_FILLING",
        PYH + "test_diff_analysis.py::test_double_sig_adobe_reader",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/FORM_FILLING"),
    Row("pyhanko/minimal-two-fields-signed-twice.pdf", "Sig1", "valid",
        PYH + "test_diff_analysis.py::test_double_sig_adobe_reader",
        "INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE/NONE"),
    Row("pyhanko/pades-lta-dss-indirect-arrs-test.pdf", "Sig1", "valid",
        PYH + "test_pades.py::test_pades_lta_dss_indirect_arrs",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/LTA_UPDATES"),
    Row("pyhanko/pades-with-old-style-signing-cert-attr.pdf", "Sig1", "valid",
        PYH + "test_cms.py::test_old_style_signing_cert_attr",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("pyhanko/sig-no-signed-attrs.pdf", "Sig1", "valid", PYH + "test_cms.py::test_verify_sig_without_signed_attrs",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("itext/danglingWidgetAnnotation.pdf", "Signature1", "changes", ITX + "danglingWidgetAnnotationTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("itext/fieldLockRootModificationAllowed.pdf", "Signature1", "valid",
        ITX + "fieldLockRootModificationAllowedTest",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/FORM_FILLING"),
    Row("itext/fieldLockRootModificationNotAllowed.pdf", "Signature1", "changes",
        ITX + "fieldLockRootModificationNotAllowedTest", "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("itext/fullCompressionModeLevel1.pdf", "Signature1", "valid", ITX + "fullCompressionModeLevel1Test",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/LTA_UPDATES"),
    Row("itext/multipleRevisionsDocumentWithPermissions.pdf", "Signature1", "valid",
        ITX + "multipleRevisionsDocumentWithPermissionsTest", "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/LTA_UPDATES"),
    Row("itext/multipleRevisionsDocumentWithoutPermissions.pdf", "Signature1", "valid",
        ITX + "multipleRevisionsDocumentWithoutPermissionsTest", "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER",
        kept=ITEXT_FREES),
    Row("itext/multipleRevisionsDocumentWithoutPermissions.pdf", "Signature2", "valid",
        ITX + "multipleRevisionsDocumentWithoutPermissionsTest", "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER",
        kept=ITEXT_FREES),
    Row("itext/multipleRevisionsDocumentWithoutPermissions.pdf", "Signature3", "valid",
        ITX + "multipleRevisionsDocumentWithoutPermissionsTest", "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("itext/outlinesModified.pdf", "Signature1", "changes", ITX + "outlinesModifiedTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("itext/outlinesNotModified.pdf", "Signature1", "valid", ITX + "outlinesNotModifiedTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER", kept=ITEXT_FREES),
    Row("itext/outlinesNotModified.pdf", "Signature2", "valid", ITX + "outlinesNotModifiedTest",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/NONE"),
    Row("itext/pageAndParentIndirectReferenceModified.pdf", "Signature1", "changes",
        ITX + "pageAndParentIndirectReferenceModifiedTest", "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
    Row("itext/pdfVersionAdded.pdf", "Signature1", "valid", ITX + "pdfVersionAddedTest",
        "INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND/LTA_UPDATES"),
    Row("itext/removeAllAnnots.pdf", "Signature1", "valid", ITX + "removeAllThePageAnnotationsTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER",
        kept="the later revision removes the page's annotations and frees their objects; pyHanko's analysis "
             "rejects freeing objects the signed revision uses (what the page shows changes), iText allows it."),
    Row("itext/removedLockedField.pdf", "Signature1", "changes", ITX + "removedLockedFieldTest",
        "TOTAL_FAILED/SIG_CONSTRAINTS_FAILURE/OTHER"),
]


def described(sig: SignatureReport) -> str:
    return f"{sig.indication.value}/{sig.sub_indication}/{sig.modifications.value if sig.modifications else None}"


def agrees(expected: str, sig: SignatureReport) -> bool:
    kind, _, detail = expected.partition(" ")
    modifications = sig.modifications.value if sig.modifications else None
    if kind == "valid":
        return (sig.integrity and sig.indication is not Indication.TOTAL_FAILED and modifications != "OTHER"
                and (not detail or modifications == detail))
    if kind == "changes":
        return sig.indication is not Indication.TOTAL_PASSED and modifications in ("OTHER", None)
    if kind == "not":  # "not passed"
        return sig.indication is not Indication.TOTAL_PASSED
    wanted = {"failed": Indication.TOTAL_FAILED, "indeterminate": Indication.INDETERMINATE}[kind]
    return sig.indication is wanted and (not detail or sig.sub_indication == detail)


@pytest.fixture(scope="module")
def reports():  # type: ignore[no-untyped-def]
    cache: dict[str, dict[str, SignatureReport]] = {}

    def get(file: str) -> dict[str, SignatureReport]:
        if file not in cache:
            report = verify_pdf((CORPUS / file).read_bytes(), [], offline=True)
            cache[file] = {s.field: s for s in report.signatures}
        return cache[file]

    return get


@pytest.mark.parametrize("row", TABLE, ids=lambda r: f"{r.file}:{r.field}")
def test_agreement_table(reports, row):  # type: ignore[no-untyped-def]
    sig = reports(row.file)[row.field]
    assert described(sig) == row.docsign, (described(sig), sig.errors, sig.warnings)
    assert agrees(row.expected, sig) is (row.kept is None), (row, sig.errors)


def test_every_corpus_file_is_in_the_table_and_every_signature_reported(reports):  # type: ignore[no-untyped-def]
    files = {str(p.relative_to(CORPUS)) for source in SOURCES for p in (CORPUS / source).glob("*.pdf")}
    assert files == {row.file for row in TABLE}
    for file in files:
        assert reports(file), f"{file}: a signed file must get a report per signature"


def test_totals_by_source():  # type: ignore[no-untyped-def]
    """The table's totals (printed with -s): per source, signatures compared, agreeing, kept disagreements."""
    totals: Counter[tuple[str, bool]] = Counter((row.file.split("/")[0], row.kept is None) for row in TABLE)
    for source in sorted({s for s, _ in totals}):
        print(f"{source}: {totals[(source, True)] + totals[(source, False)]} signatures, "
              f"{totals[(source, True)]} agree, {totals[(source, False)]} disagreements kept")
    assert sum(totals.values()) == len(TABLE)
