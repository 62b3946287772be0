"""The fast difference analysis (docsign.verification.changes) gives pyHanko's full analysis's result
on attack files and on the updates docsign itself makes (validation data, timestamps, second signers)."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult

from docsign.verification import changes
from docsign.verification.engine import verify_pdf
from docsign.verification.structure import check_byte_range
from tests.unit.verification import attacks
from tests.unit.verification.pdfs import append_update, raw_pdf, stream


def _summary(result):  # type: ignore[no-untyped-def]
    if isinstance(result, DiffResult):
        return result.modification_level, frozenset(result.changed_form_fields)
    return type(result).__name__


def both_ways(data: bytes) -> list[tuple[object, object, bool]]:
    """(fast result, pyHanko's own review_file result, whether the fast way walked the whole revision)."""
    out = []
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    for emb in reader.embedded_signatures:
        signed_end = check_byte_range(data, emb.sig_object).signed_end
        assert signed_end is not None
        fast_reader = PdfFileReader(io.BytesIO(data), strict=False)
        fast_emb = next(e for e in fast_reader.embedded_signatures if e.field_name == emb.field_name)
        fast = changes.review(fast_emb, data, signed_end=signed_end)
        emb.compute_integrity_info(diff_policy=DEFAULT_DIFF_POLICY)  # pyHanko as shipped
        full = emb.diff_result
        base = changes.SignedRevision(fast_reader, fast_emb.signed_revision, data, signed_end)
        later = range(fast_emb.signed_revision + 1, fast_reader.xrefs.total_revisions)
        out.append((_summary(fast), _summary(full), all(base.form_untouched(r) for r in later)))
    return out


@pytest.fixture(scope="module")
def victim(kit):  # type: ignore[no-untyped-def]
    return kit.sign(attacks.shadow_base(), kit.signer("victim", common_name="Victim"), level="B-B")


def _dangling(kit):  # type: ignore[no-untyped-def]
    """The signed page draws object 99, which does not exist yet (null); a later update that defines it
    and hangs it under the DSS must not pass for validation data."""
    base = raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents [5 0 R 99 0 R] >>",
        stream(attacks.HIDDEN),
    ])
    signed = kit.sign(base, kit.signer("victim", common_name="Victim"), level="B-B")
    from pyhanko.pdf_utils.reader import PdfFileReader as Reader

    catalog = Reader(io.BytesIO(signed), strict=False).root
    pages = catalog.raw_get("/Pages")
    acroform = catalog.raw_get("/AcroForm")
    form = f" /AcroForm {acroform.idnum} 0 R".encode() if hasattr(acroform, "idnum") else b""
    dss = b"<< /Type /Catalog /Pages %d 0 R%s /DSS << /Certs [99 0 R] >> >>" % (pages.idnum, form)
    return append_update(signed, {1: dss, 99: stream(attacks.SHOWN)})


ATTACKS = [attacks.isa_new_content, attacks.shadow_hide, attacks.shadow_replace_font, attacks.shadow_hide_and_replace,
           attacks.isa_without_xref, attacks.shadow_hide_and_replace_unlisted, attacks.appended_garbage]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_attacks_get_the_full_analysis_result(victim, attack):  # type: ignore[no-untyped-def]
    for fast, full, _ in both_ways(attack(victim)):
        assert fast == full


def test_docsign_updates_take_the_fast_way_with_the_same_result(docs):  # type: ignore[no-untyped-def]
    for data in (docs.b_lt, docs.b_lta, docs.two, docs.certified_p1):
        for fast, full, _ in both_ways(data):
            assert fast == full
    assert [quick for *_, quick in both_ways(docs.b_lt)] == [True], "B-LT only adds validation data"


def test_a_filled_in_dangling_reference_is_not_validation_data(kit):  # type: ignore[no-untyped-def]
    data = _dangling(kit)
    (fast, full, quick), = both_ways(data)
    assert not quick and fast == full
    sig = verify_pdf(data, [kit.root]).signatures[0]
    assert sig.indication.value == "TOTAL_FAILED" and sig.modifications.value == "OTHER"
