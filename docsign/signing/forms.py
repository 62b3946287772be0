"""Text form fields for the document number and date.

The number and date are given only when the clerk issues a document, after the leader has signed.
Drawing them onto the page then would break the leader's signature (a content change), but filling
in a form field is a change every signature allows (PAdES/DocMDP "form filling"). So the leader's
revision adds two empty, read-only text fields at the configured positions, and the issue role fills
them in, with an appearance drawn in the embedded Vietnamese font.
"""

from __future__ import annotations

import re

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docsign.signing.appearance import BlockStyle, Text
from docsign.signing.pdfio import page_geometry
from docsign.signing.roles import NUMBER_PT, Rect

READ_ONLY = 1
PRINT_FLAG = 4
ITALIC_KEY = "/DocsignItalic"  # our own key: the draft writes this blank in italics (the date line)


def _acroform(writer: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    root = writer.root
    if "/AcroForm" not in root:
        root["/AcroForm"] = writer.add_object(generic.DictionaryObject({pdf_name("/Fields"): generic.ArrayObject()}))
        writer.update_root()
    form = root["/AcroForm"]
    raw = root.raw_get("/AcroForm")
    if isinstance(raw, generic.IndirectObject):
        writer.mark_update(raw)
    else:
        writer.update_root()
    if "/Fields" not in form:
        form["/Fields"] = generic.ArrayObject()
    return form


def find_field(writer: IncrementalPdfFileWriter, name: str) -> generic.IndirectObject | None:
    """A top-level form field by its name (/T), or None."""
    try:
        fields = writer.root["/AcroForm"]["/Fields"]
    except KeyError:
        return None
    for ref in fields:
        field = ref.get_object()
        if field.get("/T") == name:
            return ref  # type: ignore[no-any-return]
    return None


QUADDING = {"left": 0, "center": 1, "right": 2}


def add_text_field(writer: IncrementalPdfFileWriter, name: str, page_ix: int, rect: Rect, *,
                   size: float = NUMBER_PT, align: str = "center", italic: bool = False) -> None:
    """An empty read-only text field with a blank appearance, placed on a page; the value's font size
    (/DA), alignment (/Q) and slant are recorded for the clerk's fill-in."""
    page_ref = writer.find_page_for_modification(page_ix)[0]
    blank = writer.add_object(generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
        pdf_name("/BBox"): generic.ArrayObject(generic.FloatObject(v) for v in (0, 0, rect[2] - rect[0],
                                                                                 rect[3] - rect[1]))}, stream_data=b""))
    field = generic.DictionaryObject({
        pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): pdf_string(name),
        pdf_name("/Ff"): generic.NumberObject(READ_ONLY),
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/F"): generic.NumberObject(PRINT_FLAG), pdf_name("/P"): page_ref,
        pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in rect),
        pdf_name("/DA"): pdf_string(f"/Helv {size:.2f} Tf 0 g"),
        pdf_name("/Q"): generic.NumberObject(QUADDING[align]),
        pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): blank}),
    })
    if italic:
        field[pdf_name(ITALIC_KEY)] = generic.BooleanObject(True)
    field_ref = writer.add_object(field)
    page = page_ref.get_object()
    annots = page.get("/Annots")
    if annots is None:
        page["/Annots"] = generic.ArrayObject([field_ref])
        writer.update_container(page)
    else:
        annots = annots.get_object()
        annots.append(field_ref)
        raw = page.raw_get("/Annots")
        if isinstance(raw, generic.IndirectObject):
            writer.mark_update(raw)
        else:
            writer.update_container(page)
    _acroform(writer)["/Fields"].append(field_ref)


def _recorded_size(field: generic.DictionaryObject) -> float | None:
    match = re.search(r"([\d.]+)\s+Tf", str(field.get("/DA", "")))
    size = float(match.group(1)) if match else 0.0
    return size if size >= 4 else None


def fill_text_field(writer: IncrementalPdfFileWriter, ref: generic.IndirectObject, value: str,
                    align: str | None = None, size: float | None = None) -> None:
    """Set the value and draw it into the field's appearance: in the size and alignment recorded on the
    field unless given, upright on the page as the reader sees it (the page's /Rotate)."""
    field = ref.get_object()
    x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
    width, height = abs(x2 - x1), abs(y2 - y1)
    size = size or _recorded_size(field) or NUMBER_PT
    if align is None:
        align = {v: k for k, v in QUADDING.items()}.get(int(field.get("/Q", 0)), "left")
    italic = bool(field.get(ITALIC_KEY, False))
    rotate = page_geometry(field["/P"]).rotate if "/P" in field else 0

    def build(w: float, h: float) -> list[Text]:
        x = w / 2 if align == "center" else w - 1 if align == "right" else 1
        baseline = max((h - size) / 2 + 0.2 * size, 1)
        return [Text(value, x, baseline, size=size, align=align, italic=italic, max_width=w - 2)]

    stamp = BlockStyle(layout_fn=build, rotate=rotate).create_stamp(writer, layout.BoxConstraints(width, height), {})
    field["/V"] = pdf_string(value)
    stamp.apply_appearance(field)
    writer.mark_update(ref)
