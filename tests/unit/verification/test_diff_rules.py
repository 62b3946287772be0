"""docsign's difference-analysis rules (docsign.verification.diff_rules): each permitted change passes at its
level, and the attack next to it (the same kind of update doing one thing more) is still caught."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from docsign.verification.engine import verify_pdf
from docsign.verification.report import Indication, Modifications
from tests.unit.verification import attacks
from tests.unit.verification.pdfs import append_update, raw_pdf, stream, trailer_size

TEXT = b"BT /F1 14 Tf 72 720 Td (Quyet dinh so 05) Tj ET"
OTHER_TEXT = b"BT /F1 14 Tf 72 720 Td (Quyet dinh so 06) Tj ET"


def tagged_base() -> bytes:
    """A tagged document whose second page has a comment (a /Text annotation) and a link (the signature's
    widget goes on the first page)."""
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /StructTreeRoot 7 0 R /MarkInfo << /Marked true >> >>",  # 1
        b"<< /Type /Pages /Kids [12 0 R 4 0 R] /Count 2 >>",                                      # 2
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",                                # 3
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents 5 0 R /StructParents 0 /Annots 10 0 R >>",                                   # 4
        stream(TEXT),                                                                             # 5
        b"<< /Type /Annot /Subtype /Text /Rect [400 700 420 720] /Contents (Note) /P 4 0 R >>",   # 6
        b"<< /Type /StructTreeRoot /K [8 0 R] /ParentTree 9 0 R /ParentTreeNextKey 1 >>",         # 7
        b"<< /Type /StructElem /S /Document /P 7 0 R /K [0] /Pg 4 0 R /Alt (Quyet dinh) >>",      # 8
        b"<< /Nums [0 [8 0 R]] >>",                                                               # 9
        b"[6 0 R 11 0 R]",                                                                        # 10
        b"<< /Type /Annot /Subtype /Link /Rect [72 600 200 620] /P 4 0 R /Border [0 0 0] >>",     # 11
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",                               # 12
    ])


def rewritten(data: bytes, number: int, **entries: object) -> bytes:
    """Object ``number`` as the latest revision has it, with ``entries`` set (None removes), as PDF text."""
    obj = PdfFileReader(io.BytesIO(data), strict=False).get_object(generic.Reference(number, 0))
    assert isinstance(obj, generic.DictionaryObject)
    for key, value in entries.items():
        name = "/" + key
        if value is None:
            obj.pop(name, None)
        else:
            obj[generic.NameObject(name)] = value  # type: ignore[assignment]
    out = io.BytesIO()
    obj.write_to_stream(out, None)
    return out.getvalue()


def ref(number: int) -> generic.IndirectObject:
    return generic.IndirectObject(number, 0, None)  # type: ignore[arg-type]


def refs(*numbers: int) -> generic.ArrayObject:
    return generic.ArrayObject([ref(n) for n in numbers])


def verdict(data: bytes) -> tuple[Indication, Modifications | None]:
    sig = verify_pdf(data, [], offline=True).signatures[0]
    return sig.indication, sig.modifications


def permitted(data: bytes, level: Modifications) -> None:
    sig = verify_pdf(data, [], offline=True).signatures[0]
    assert sig.integrity and sig.modifications is level, (sig.modifications, sig.errors)
    assert sig.indication is not Indication.TOTAL_FAILED, sig.errors


def caught(data: bytes) -> None:
    sig = verify_pdf(data, [], offline=True).signatures[0]
    assert sig.indication is Indication.TOTAL_FAILED, (sig.indication, sig.modifications, sig.errors)


@pytest.fixture(scope="module")
def signed(kit):  # type: ignore[no-untyped-def]
    return kit.sign(tagged_base(), kit.signer("approver", common_name="Approver"), level="B-B")


@pytest.fixture(scope="module")
def certified(kit):  # type: ignore[no-untyped-def]
    """Certified with P as given (1: no changes, 2: form filling, 3: annotations)."""
    made: dict[MDPPerm, bytes] = {}

    def get(perm: MDPPerm) -> bytes:
        if perm not in made:
            made[perm] = kit.sign(tagged_base(), kit.signer("certifier", common_name="Certifier"), level="B-B",
                                  certify=True, docmdp=perm)
        return made[perm]

    return get


# -- structure tree ----------------------------------------------------------------------------
def add_structure_element(data: bytes, *, alt: bytes = b"Hinh") -> dict[int, bytes]:
    new = trailer_size(data)
    return {
        7: rewritten(data, 7, ParentTreeNextKey=generic.NumberObject(2)),
        8: rewritten(data, 8, K=generic.ArrayObject([generic.NumberObject(0), ref(new)])),
        new: b"<< /Type /StructElem /S /Figure /P 8 0 R /Pg 4 0 R /Alt (" + alt + b") >>",
    }


def test_structure_tree_update_is_form_filling(signed):  # type: ignore[no-untyped-def]
    permitted(append_update(signed, add_structure_element(signed)), Modifications.FORM_FILLING)


def test_structure_tree_rule_does_not_explain_the_page_or_other_element_entries(signed):  # type: ignore[no-untyped-def]
    with_page = {**add_structure_element(signed), 5: stream(OTHER_TEXT)}
    caught(append_update(signed, with_page))  # the page text changed with the tree
    caught(append_update(signed, {8: rewritten(signed, 8, Alt=generic.TextStringObject("Khac"))}))  # not /K
    new_tree = trailer_size(signed)
    caught(append_update(signed, {1: rewritten(signed, 1, StructTreeRoot=ref(new_tree)),
                                  new_tree: b"<< /Type /StructTreeRoot /K [] >>"}))  # a replaced tree


def test_structure_tree_rule_does_not_explain_a_content_array_the_tree_also_reaches(kit):  # type: ignore[no-untyped-def]
    """Shadow attack prepared before signing: a structure element lists the page's /Contents array (13) and
    an unused stream (14) waits in the file; after signing, the array is pointed at that stream."""
    base = raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /StructTreeRoot 7 0 R >>",                                 # 1
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",                                               # 2
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",                                  # 3
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents 9 0 R /StructParents 0 >>",                                                    # 4
        stream(TEXT),                                                                               # 5
        stream(OTHER_TEXT),                                                                         # 6 unused
        b"<< /Type /StructTreeRoot /K [8 0 R] /ParentTreeNextKey 1 >>",                             # 7
        b"<< /Type /StructElem /S /Document /P 7 0 R /K [0 9 0 R] >>",                              # 8
        b"[5 0 R]",                                                                                 # 9
    ])
    signed = kit.sign(base, kit.signer("approver", common_name="Approver"), level="B-B")
    caught(append_update(signed, {9: b"[6 0 R]"}))


def test_structure_tree_update_fails_a_certification_without_changes(certified):  # type: ignore[no-untyped-def]
    data = certified(MDPPerm.NO_CHANGES)
    caught(append_update(data, add_structure_element(data)))
    data = certified(MDPPerm.FILL_FORMS)
    permitted(append_update(data, add_structure_element(data)), Modifications.FORM_FILLING)


# -- comments added and annotations removed ---------------------------------------------------
def add_comment(data: bytes, subtype: bytes = b"/FreeText", extra: bytes = b"") -> dict[int, bytes]:
    new = trailer_size(data)
    return {
        10: b"[6 0 R 11 0 R %d 0 R]" % new,  # object 10 is the second page's /Annots (the widget is on the first)
        new: b"<< /Type /Annot /Subtype " + subtype + b" /Rect [72 500 300 530] /P 4 0 R /Contents (Da xem) "
             b"/DA (/Helv 12 Tf 0 g) /AP << /N %d 0 R >> " % (new + 1) + extra + b">>",
        new + 1: stream(b"BT /Helv 12 Tf 2 8 Td (Da xem) Tj ET",
                        b"/Type /XObject /Subtype /Form /BBox [0 0 228 30] /Resources << /Font << /Helv 3 0 R >> >> "),
    }


def test_comment_added_and_annotations_removed_are_annotations(signed):  # type: ignore[no-untyped-def]
    permitted(append_update(signed, add_comment(signed)), Modifications.ANNOTATIONS)
    permitted(append_update(signed, {10: b"[6 0 R]"}), Modifications.ANNOTATIONS)
    # the page drops its /Annots array and the array object is freed (as iText does)
    permitted(append_update(signed, {4: rewritten(signed, 4, Annots=None)}, freed=[10]), Modifications.ANNOTATIONS)


def test_annotation_rule_is_narrow(signed, kit):  # type: ignore[no-untyped-def]
    caught(append_update(signed, add_comment(signed, b"/Link", b"/A << /S /JavaScript /JS (app.alert(1)) >> ")))
    caught(append_update(signed, add_comment(signed, b"/FileAttachment")))
    caught(append_update(signed, {**add_comment(signed), 5: stream(OTHER_TEXT)}))  # page text changed too
    caught(append_update(signed, {10: b"[6 0 R]", 6: b"<< /Type /Annot /Subtype /Text /Rect [0 0 9 9] >>"}))
    caught(append_update(signed, {}, freed=[10]))  # the array freed while the page still uses it
    # a form widget removed is not an annotation removal
    form = kit.sign(attacks.form_base(), kit.signer("approver", common_name="Approver"), level="B-B")
    annots = PdfFileReader(io.BytesIO(form), strict=False).get_object(generic.Reference(4, 0)).raw_get("/Annots")
    without_widget = [a.reference.idnum for a in annots if a.reference.idnum != 5]
    caught(append_update(form, {4: rewritten(form, 4, Annots=refs(*without_widget))}))


def test_annotation_changes_honour_docmdp(certified):  # type: ignore[no-untyped-def]
    for perm in (MDPPerm.NO_CHANGES, MDPPerm.FILL_FORMS):
        data = certified(perm)
        caught(append_update(data, add_comment(data)))
        caught(append_update(data, {10: b"[6 0 R]"}))
    data = certified(MDPPerm.ANNOTATE)
    permitted(append_update(data, {10: b"[6 0 R]"}), Modifications.ANNOTATIONS)


# -- named appearances in the catalog ----------------------------------------------------------
def add_names(data: bytes, names: bytes) -> dict[int, bytes]:
    new = trailer_size(data)
    return {
        1: rewritten(data, 1, Names=ref(new)),
        new: names % {b"tree": b"%d" % (new + 1), b"value": b"%d" % (new + 2)},
        new + 1: b"<< /Names [(icon) %d 0 R] >>" % (new + 2),
        new + 2: stream(b"0 0 1 rg 0 0 20 20 re f", b"/Type /XObject /Subtype /Form /BBox [0 0 20 20] "),
    }


def test_named_appearances_are_annotations(signed):  # type: ignore[no-untyped-def]
    permitted(append_update(signed, add_names(signed, b"<< /AP %(tree)s 0 R >>")), Modifications.ANNOTATIONS)


def test_other_name_trees_are_caught(signed, certified):  # type: ignore[no-untyped-def]
    caught(append_update(signed, add_names(signed, b"<< /AP %(tree)s 0 R /JavaScript %(tree)s 0 R >>")))
    caught(append_update(signed, add_names(signed, b"<< /EmbeddedFiles %(tree)s 0 R >>")))
    caught(append_update(signed, add_names(signed, b"<< /Dests %(tree)s 0 R >>")))
    data = certified(MDPPerm.FILL_FORMS)
    caught(append_update(data, add_names(data, b"<< /AP %(tree)s 0 R >>")))


# -- freeing numbers and iText's version stamp -------------------------------------------------
def test_freeing_a_number_the_signed_revision_did_not_have_changes_nothing(signed):  # type: ignore[no-untyped-def]
    unused = trailer_size(signed) + 3
    indication, modifications = verdict(append_update(signed, {2: rewritten(signed, 2)}, freed=[unused]))
    assert indication is not Indication.TOTAL_FAILED and modifications in (Modifications.NONE,
                                                                           Modifications.LTA_UPDATES)


def test_freeing_an_object_the_signed_page_uses_is_caught(signed):  # type: ignore[no-untyped-def]
    caught(append_update(signed, {}, freed=[5]))  # the page's text
    caught(append_update(signed, {}, freed=[6]))  # a comment still listed on the page


def test_itext_version_stamp_and_nothing_else(signed):  # type: ignore[no-untyped-def]
    stamp = generic.TextStringObject("5.0.0")
    indication, modifications = verdict(append_update(signed, {2: rewritten(signed, 2, ITXT=stamp)}))
    assert indication is not Indication.TOTAL_FAILED and modifications is Modifications.LTA_UPDATES
    caught(append_update(signed, {2: rewritten(signed, 2, ITXT=stamp, Rotate=generic.NumberObject(90))}))
