"""Decree 30 drafts as a secretariat types them (App. I, form 1.1 and friends), written with fpdf2 in
the Noto Serif docsign ships: agency header with "Số:      /UBND-VP", the place-and-date line with
blanks, a body, and the signer block on the last page (prefix, position, room, name).

fpdf2 writes pages that inherit /MediaBox from the page tree and embeds fonts as Identity-H CID
fonts with a ToUnicode map, the way Word does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docsign.signing.fonts import font_path

A4_W, A4_H = 595.28, 841.89
BODY = ("Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015; căn cứ Nghị định số "
        "30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư; theo đề nghị của Chánh Văn "
        "phòng Ủy ban nhân dân tỉnh.")


@dataclass(frozen=True)
class DraftSpec:
    pages: int = 1
    name: str = "Nguyễn Văn An"
    lines: tuple[str, ...] = ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")
    """Prefix and position lines above the room for the signature (empty: no signer block)."""
    side: str = "right"
    """Where the signer block stands: right (with "Nơi nhận" on the left) or left."""
    notation: str = "UBND-VP"
    number_line: bool = True
    date_line: bool = True
    place: str = "Hòa Bình"
    year: str = ""
    """The year as the draft prints it (blank by default)."""
    size: float = 13
    room: float = 72
    """Height of the room for the signature, in points."""
    number_text: str | None = None
    """The whole "Số:" line when not the usual one, e.g. "Số:        /2026/QĐ-UBND"."""
    date_text: str | None = None
    """The whole date line when not the usual one, e.g. "Hà Nội, ngày ..... tháng ..... năm 20....."."""
    placeholder: str = ""
    """Text in the room for the signature, e.g. "(Chữ ký, dấu)"."""
    second_block: tuple[tuple[str, ...], str] | None = None
    """Another signer block on the other side (minutes, joint documents)."""


def make_draft(path: Path, spec: DraftSpec = DraftSpec()) -> Path:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("Noto", "", str(font_path("regular")))
    pdf.add_font("Noto", "B", str(font_path("bold")))
    size = spec.size
    left_col, right_col = (40.0, 235.0), (250.0, 565.0)

    def centred(text: str, col: tuple[float, float], y: float, style: str = "", pt: float = size) -> None:
        pdf.set_font("Noto", style, pt)
        width = pdf.get_string_width(text)
        pdf.text((col[0] + col[1]) / 2 - width / 2, y, text)

    for page in range(spec.pages):
        pdf.add_page()
        y = 60.0
        if page == 0:
            centred("ỦY BAN NHÂN DÂN", left_col, y, "", size - 1)
            centred("TỈNH HÒA BÌNH", left_col, y + 16, "B", size - 1)
            centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", right_col, y, "B", size - 1)
            centred("Độc lập - Tự do - Hạnh phúc", right_col, y + 16, "B", size)
            y += 50
            if spec.number_line:
                centred(spec.number_text or f"Số:          /{spec.notation}", left_col, y, "", size)
            if spec.date_line:
                line = f"ngày      tháng      năm {spec.year or '          '}"
                line = f"{spec.place}, {line}" if spec.place else line.capitalize()
                centred(spec.date_text or line, right_col, y, "", size)
            y += 50
            centred("QUYẾT ĐỊNH", (40, 555), y, "B", size + 1)
            centred("Về việc ban hành Quy chế công tác văn thư", (40, 555), y + 18, "B", size)
            y += 50
        pdf.set_font("Noto", "", size)
        pdf.set_xy(60, y)
        pdf.multi_cell(475, size * 1.4, (BODY + " ") * (3 if page < spec.pages - 1 else 1))
        y = pdf.get_y() + 30
        if page == spec.pages - 1:
            _signer_block(pdf, spec, y, centred, left_col, right_col)
    pdf.output(str(path))
    return path


def _signer_block(pdf, spec: DraftSpec, y: float, centred, left_col, right_col) -> None:  # type: ignore[no-untyped-def]
    size = spec.size
    block_col = (300.0, 555.0) if spec.side == "right" else (40.0, 295.0)
    other_col = (40.0, 295.0) if spec.side == "right" else (300.0, 555.0)
    if spec.second_block is None:
        pdf.set_font("Noto", "B", size - 1)
        pdf.text(other_col[0] + 5, y, "Nơi nhận:")
        pdf.set_font("Noto", "", size - 2)
        for k, line in enumerate(("- Như Điều 3;", "- Lưu: VT, VP.")):
            pdf.text(other_col[0] + 5, y + 14 * (k + 1), line)
    blocks = [(block_col, spec.lines, spec.name)]
    if spec.second_block is not None:
        blocks.append((other_col, *spec.second_block))
    for col, lines, name in blocks:
        if not lines:
            continue
        top = y
        for line in lines:
            centred(line, col, top, "B", size)
            top += size * 1.3
        if spec.placeholder:
            centred(spec.placeholder, col, top + spec.room / 2, "", size - 1)
        centred(name, col, top + spec.room, "B", size)
