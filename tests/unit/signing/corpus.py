"""A corpus of PDFs from several writers (issue 10 item 6), made at test time in a few hundred ms each.

What each writer needed to make the file docsign must cope with:
- fpdf2: nothing; its pages inherit /MediaBox from the page tree (the TypeError of issue 10).
- reportlab: a page turned with /Rotate 90 whose content is drawn turned back, so that the draft reads
  upright on screen in landscape (a scanner's or a landscape template's page).
- Pillow: ``Image.save(..., "PDF")`` of the draft rendered by pdftoppm: a scan, no text at all.
- Ghostscript: ``ps2pdf`` of a PostScript program (PDF 1.7, compressed xref stream in recent releases),
  and ``ps2pdf`` of the fpdf2 draft (pdfwrite re-embeds the fonts).
- qpdf: object and xref streams (``--object-streams=generate``), linearization (``--linearize``),
  PDF 2.0 (``--force-version=2.0``).
- pyHanko: an incremental update appended to the draft (a second revision before any signature).
- by hand (``rewrite`` below, from any of the above): generation numbers other than 0; a hybrid-reference
  file (classic table plus /XRefStm pointing to an xref stream for objects in an object stream);
  /MediaBox, /CropBox (offset origin) and /Rotate inherited from the page tree.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.signing.fonts import font_path
from tests.unit.signing.drafts import BODY, DraftSpec, make_draft
from tests.unit.signing.helpers import need_tool

Maker = Callable[[Path], Path]


def _tool(name: str) -> str:
    return need_tool(name)


def fpdf2_draft(out: Path) -> Path:
    return make_draft(out, DraftSpec(pages=2))


def reportlab_rotated_draft(out: Path) -> Path:
    """A4 portrait MediaBox shown landscape (/Rotate 90), the draft drawn in the visual orientation."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    for name, variant in (("Noto", "regular"), ("NotoB", "bold")):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(font_path(variant))))
    width, height = 595.28, 841.89
    c = canvas.Canvas(str(out), pagesize=(height, width))  # reportlab swaps the size of a page turned by 90
    c.setPageRotation(90)
    c.transform(0, 1, -1, 0, width, 0)  # visual (landscape 842 x 595) -> user space
    vw, vh = height, width

    def centred(text: str, x: float, y: float, bold: bool = False, size: float = 13) -> None:
        c.setFont("NotoB" if bold else "Noto", size)
        c.drawCentredString(x, y, text)

    centred("ỦY BAN NHÂN DÂN TỈNH HÒA BÌNH", 170, vh - 50, True)
    centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 560, vh - 50, True)
    centred("Số:          /UBND-VP", 170, vh - 90)
    centred("Hòa Bình, ngày      tháng      năm          ", 560, vh - 90)
    centred("KẾ HOẠCH", vw / 2, vh - 140, True, 14)
    c.setFont("Noto", 12)
    c.drawString(70, vh - 180, BODY[:110])
    c.drawString(70, vh - 198, BODY[110:])
    c.setFont("NotoB", 12)
    c.drawString(70, vh - 250, "Nơi nhận:")
    centred("KT. CHỦ TỊCH", 600, vh - 250, True)
    centred("PHÓ CHỦ TỊCH", 600, vh - 267, True)
    centred("Nguyễn Văn An", 600, vh - 345, True)
    c.showPage()
    c.save()
    return out


def pillow_scan(out: Path) -> Path:
    """The draft as a scanner makes it: one image per page, no text."""
    from PIL import Image

    draft = make_draft(out.with_suffix(".src.pdf"))
    prefix = out.with_suffix("")
    subprocess.run([_tool("pdftoppm"), "-r", "60", "-gray", "-png", "-singlefile", str(draft), str(prefix)],
                   check=True, timeout=60)
    with Image.open(f"{prefix}.png") as image:
        image.convert("RGB").save(out, "PDF", resolution=60)
    return out


PS_PROGRAM = b"""%!PS-Adobe-3.0
%%BoundingBox: 0 0 595 842
<< /PageSize [595 842] >> setpagedevice
/Times-Roman findfont 13 scalefont setfont
72 760 moveto (UBND TINH HOA BINH - Ke hoach so hoa van ban) show
72 730 moveto (Noi dung van ban, trang 1) show
showpage
/Times-Roman findfont 13 scalefont setfont
72 760 moveto (Trang 2) show
showpage
"""


def ps2pdf_program(out: Path) -> Path:
    source = out.with_suffix(".ps")
    source.write_bytes(PS_PROGRAM)
    subprocess.run([_tool("ps2pdf"), str(source), str(out)], check=True, timeout=60, capture_output=True)
    return out


def ps2pdf_of_draft(out: Path) -> Path:
    draft = make_draft(out.with_suffix(".src.pdf"))
    subprocess.run([_tool("ps2pdf"), str(draft), str(out)], check=True, timeout=60, capture_output=True)
    return out


def qpdf(*options: str) -> Maker:
    def make(out: Path) -> Path:
        draft = make_draft(out.with_suffix(".src.pdf"))
        result = subprocess.run([_tool("qpdf"), *options, str(draft), str(out)], capture_output=True, timeout=60)
        assert result.returncode in (0, 3), result.stderr  # 3: warnings only
        return out

    return make


def incremental_update(out: Path) -> Path:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    draft = make_draft(out.with_suffix(".src.pdf"))
    writer = IncrementalPdfFileWriter(io.BytesIO(draft.read_bytes()))
    writer.root[pdf_name("/Lang")] = generic.pdf_string("vi-VN")  # what an editor's "save" appends
    writer.update_root()
    with out.open("wb") as fh:
        writer.write(fh)
    return out


# -- by hand -----------------------------------------------------------------------------------------

def _collect(reader: PdfFileReader) -> dict[int, generic.PdfObject]:
    """Every object reachable from the trailer, by object number."""
    found: dict[int, generic.PdfObject] = {}
    todo = [reader.trailer.raw_get("/Root")]
    if "/Info" in reader.trailer:
        todo.append(reader.trailer.raw_get("/Info"))

    def scan(obj: generic.PdfObject) -> None:
        if isinstance(obj, generic.IndirectObject):
            todo.append(obj)
        elif isinstance(obj, dict):
            for value in dict.values(obj):
                scan(value)
        elif isinstance(obj, list):
            for value in list.__iter__(obj):
                scan(value)

    while todo:
        ref = todo.pop()
        if ref.idnum in found:
            continue
        obj = ref.get_object()
        found[ref.idnum] = obj
        scan(obj)
    return found


def _remap(obj: generic.PdfObject, gens: dict[int, int]) -> generic.PdfObject:
    if isinstance(obj, generic.IndirectObject):
        return generic.IndirectObject(obj.idnum, gens.get(obj.idnum, 0), None)  # type: ignore[arg-type]
    if isinstance(obj, generic.StreamObject):
        data = {k: _remap(v, gens) for k, v in dict.items(obj)}
        return generic.StreamObject(data, encoded_data=obj.encoded_data)
    if isinstance(obj, generic.DictionaryObject):
        return generic.DictionaryObject({k: _remap(v, gens) for k, v in dict.items(obj)})
    if isinstance(obj, generic.ArrayObject):
        return generic.ArrayObject(_remap(v, gens) for v in list.__iter__(obj))
    return obj


def _serialise(obj: generic.PdfObject) -> bytes:
    out = io.BytesIO()
    obj.write_to_stream(out, None)
    return out.getvalue()


def rewrite(source: Path, out: Path, *, gens: Callable[[int], int] = lambda n: 0, hybrid: bool = False,
            inherit_boxes: bool = False) -> Path:
    """``source`` written again by hand: chosen generation numbers, a hybrid-reference xref, or the
    page boxes and rotation moved up to the page tree."""
    reader = PdfFileReader(io.BytesIO(source.read_bytes()))
    objects = _collect(reader)
    root_num = reader.trailer.raw_get("/Root").idnum
    if inherit_boxes:
        pages = reader.root["/Pages"]
        kids = [k.get_object() for k in pages["/Kids"]]
        first = kids[0]
        media = [float(v) for v in first.get("/MediaBox", pages.get("/MediaBox", [0, 0, 595, 842]))]
        pages_obj = objects[reader.root.raw_get("/Pages").idnum]
        pages_obj[pdf_name("/MediaBox")] = generic.ArrayObject(generic.FloatObject(v) for v in media)
        crop = [media[0] + 10, media[1] + 12, media[2] - 8, media[3] - 6]  # an origin other than 0,0
        pages_obj[pdf_name("/CropBox")] = generic.ArrayObject(generic.FloatObject(v) for v in crop)
        if "/Rotate" in first:
            pages_obj[pdf_name("/Rotate")] = first["/Rotate"]
        for kid in kids:
            for key in ("/MediaBox", "/CropBox", "/Rotate"):
                dict.pop(kid, key, None)
    gen_of = {n: gens(n) for n in objects}
    packed: set[int] = set()
    if hybrid:  # what PDF 1.5 readers need and older ones can do without goes into an object stream
        packed = {reader.trailer.raw_get("/Info").idnum} if "/Info" in reader.trailer else set()
        outlines = reader.root.raw_get("/Outlines") if "/Outlines" in reader.root else None
        if outlines is not None:
            packed.add(outlines.idnum)
        gen_of.update({n: 0 for n in packed})
    body = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for num in sorted(objects):
        if num in packed:
            continue
        offsets[num] = len(body)
        body += b"%d %d obj\n" % (num, gen_of[num]) + _serialise(_remap(objects[num], gen_of)) + b"\nendobj\n"
    size = max(objects) + 1
    trailer_extra = b""
    if hybrid:
        objstm_num, xrefstm_num = size, size + 1
        size += 2
        index, chunks = [], []
        pos = 0
        for num in sorted(packed):
            data = _serialise(_remap(objects[num], gen_of)) + b"\n"
            index.append(b"%d %d" % (num, pos))
            chunks.append(data)
            pos += len(data)
        head = b" ".join(index) + b"\n"
        stream = head + b"".join(chunks)
        offsets[objstm_num] = len(body)
        body += (b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d >>\nstream\n" % (
            objstm_num, len(packed), len(head), len(stream)) + stream + b"\nendstream\nendobj\n")
        entries = b"".join(b"\x02" + objstm_num.to_bytes(4, "big") + i.to_bytes(2, "big")
                           for i, _ in enumerate(sorted(packed)))
        ranges = b" ".join(b"%d 1" % n for n in sorted(packed))
        data = zlib.compress(entries)
        offsets[xrefstm_num] = len(body)
        xref_stm_offset = len(body)
        body += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Filter /FlateDecode /Length %d >>\n"
                 b"stream\n" % (xrefstm_num, size, ranges, len(data)) + data + b"\nendstream\nendobj\n")
        trailer_extra = b" /XRefStm %d" % xref_stm_offset
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f\r\n" % size
    for num in range(1, size):
        if num in offsets:
            body += b"%010d %05d n\r\n" % (offsets[num], gen_of.get(num, 0))
        elif num in packed:  # in the object stream: free for a reader of classic tables, as Word writes it
            body += b"0000000000 65535 f\r\n"
        else:
            body += b"0000000000 00001 f\r\n"
    info = b""
    if "/Info" in reader.trailer and reader.trailer.raw_get("/Info").idnum in objects:
        num = reader.trailer.raw_get("/Info").idnum
        info = b" /Info %d %d R" % (num, gen_of[num])
    body += (b"trailer\n<< /Size %d /Root %d %d R%s%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, root_num, gen_of[root_num], info, trailer_extra, xref))
    out.write_bytes(bytes(body))
    return out


def unusual_generations(out: Path) -> Path:
    return rewrite(fpdf2_draft(out.with_suffix(".src.pdf")), out, gens=lambda n: (n * 7) % 13)


def hybrid_reference(out: Path) -> Path:
    return rewrite(fpdf2_draft(out.with_suffix(".src.pdf")), out, hybrid=True)


def inherited_rotated_boxes(out: Path) -> Path:
    return rewrite(reportlab_rotated_draft(out.with_suffix(".src.pdf")), out, inherit_boxes=True)


CORPUS: dict[str, tuple[Maker, bool]] = {
    # name: (maker, is a draft with the number and date blanks)
    "fpdf2-inherited-mediabox": (fpdf2_draft, True),
    "reportlab-rotate90": (reportlab_rotated_draft, True),
    "pillow-scan": (pillow_scan, False),
    "ps2pdf-postscript": (ps2pdf_program, False),
    "ps2pdf-of-draft": (ps2pdf_of_draft, True),
    "qpdf-object-streams": (qpdf("--object-streams=generate"), True),
    "qpdf-linearized": (qpdf("--linearize"), True),
    "qpdf-pdf-2.0": (qpdf("--force-version=2.0"), True),
    "pyhanko-incremental": (incremental_update, True),
    "hand-generations": (unusual_generations, True),
    "hand-hybrid-xref": (hybrid_reference, True),
    "hand-inherited-crop-rotate": (inherited_rotated_boxes, True),
}


def have_tools() -> bool:
    return all(shutil.which(t) for t in ("qpdf", "ps2pdf", "pdftoppm"))
