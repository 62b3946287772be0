"""Small test PDFs made at test time: N pages of a Decree 30 draft (the "Số:" and date blanks on page 1,
the signer block on the last page), or of plain text; optionally a big incompressible image."""

from __future__ import annotations

import os
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

A4 = (595, 842)


def make_pdf(path: Path, pages: int = 1, *, sig_fields: tuple[str, ...] = (), image_bytes: int = 0,
             draft: bool = True, notation: str = "UBND-VP") -> Path:
    """A PDF with ``pages`` pages: a Decree 30 draft (tests/unit/signing/drafts.py) that approve and issue
    can fill, or with ``draft=False`` Helvetica text only; optional empty signature fields on page 1;
    optional raw image of ``image_bytes`` random bytes on page 1 (to make big files). One revision."""
    if draft:
        return _draft_pdf(path, pages, sig_fields, image_bytes, notation)
    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")}))
    resources = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})})
    for n in range(pages):
        text = b"BT /F1 14 Tf 72 760 Td (Test document page %d of %d) Tj ET" % (n + 1, pages)
        contents = generic.StreamObject(stream_data=text)
        page_resources = resources
        if image_bytes and n == 0:
            side = int((image_bytes / 3) ** 0.5)
            image = generic.StreamObject({
                pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(side), pdf_name("/Height"): generic.NumberObject(side),
                pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            }, stream_data=os.urandom(side * side * 3))
            page_resources = generic.DictionaryObject({
                pdf_name("/Font"): resources["/Font"],
                pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Im1"): writer.add_object(image)})})
            contents = generic.StreamObject(stream_data=text + b" q 200 0 0 200 72 400 cm /Im1 Do Q")
        writer.insert_page(PageObject(writer.add_object(contents), generic.ArrayObject(
            generic.NumberObject(v) for v in (0, 0, *A4)), page_resources))
    if sig_fields:
        from pyhanko.sign.fields import SigFieldSpec, append_signature_field

        for i, name in enumerate(sig_fields):
            append_signature_field(writer, SigFieldSpec(name, on_page=0, box=(300, 100 + 90 * i, 540, 180 + 90 * i)))
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def _random_image(writer: PdfFileWriter, image_bytes: int) -> generic.IndirectObject:
    side = int((image_bytes / 3) ** 0.5)
    return writer.add_object(generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
        pdf_name("/Width"): generic.NumberObject(side), pdf_name("/Height"): generic.NumberObject(side),
        pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
    }, stream_data=os.urandom(side * side * 3)))


def _draft_pdf(path: Path, pages: int, sig_fields: tuple[str, ...], image_bytes: int, notation: str) -> Path:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    from tests.unit.signing.drafts import DraftSpec, make_draft

    make_draft(path, DraftSpec(pages=pages, notation=notation))
    if not (sig_fields or image_bytes):
        return path
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(path.read_bytes())))
    if image_bytes:
        image = _random_image(writer, image_bytes)
        stream = writer.add_object(generic.StreamObject(stream_data=b"q 200 0 0 200 72 300 cm /ImRnd Do Q"))
        writer.add_stream_to_page(0, stream, resources=generic.DictionaryObject({
            pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/ImRnd"): image})}))
    if sig_fields:
        from pyhanko.sign.fields import SigFieldSpec, append_signature_field

        for i, name in enumerate(sig_fields):
            append_signature_field(writer, SigFieldSpec(name, on_page=0, box=(300, 100 + 90 * i, 540, 180 + 90 * i)))
    with path.open("wb") as fh:
        writer.write(fh)
    return path
