"""The draft's own blanks (Decree 30 App. I §II.3, §II.7d): where the secretariat left room for the
number, the date and the leader's signature.

A draft exported from a word processor already carries "Số:      /UBND-VP", the place-and-date line
"Hòa Bình, ngày    tháng    năm" and the signer block (TM./KT./Q./TL./TUQ. line, position, blank,
name). This module reads the page text with positions and returns where those blanks are, so the
roles fill them instead of printing a second block.

Text comes from PDFium through pypdfium2: it is the engine Chromium uses on any PDF from the web, so
it reads what Word, LibreOffice and the PDF libraries embed (Identity-H CID fonts, subset TrueType,
ToUnicode maps, broken ones too); it gives each glyph's origin (the baseline), its tight box, its
font size and weight, which is what placing a filled-in value in the draft's own size needs; and it
runs in native code, so reading a page costs milliseconds on the signing path. Page boxes and
rotation come from pyHanko's reader (PDFium's crop box ignores boxes inherited from the page tree).
"""

from __future__ import annotations

import ctypes
import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docsign.signing.pdfio import PageGeometry, Rect

log = logging.getLogger(__name__)

PREFIXES = ("TM.", "KT.", "Q.", "TL.", "TUQ.")
_PREFIX_RE = re.compile(r"^(TM|KT|Q|TL|TUQ)\s*\.", re.IGNORECASE)
_FILLER = r"[._…\-–]*"
_NUMBER_RE = re.compile(r"\bS[ốỐ]\s*:\s*(?P<fill>\d{1,11}|" + _FILLER + r")\s*/\s*(?P<notation>[^\s,;]+)",
                        re.IGNORECASE)
_NUMBER_HEAD_RE = re.compile(r"(?:^|\s)S[ốỐ]\s*:", re.IGNORECASE)
_DATE_RE = re.compile(r"ngày\s*(?P<day>\d{1,2}|" + _FILLER + r")\s*tháng\s*(?P<month>\d{1,2}|" + _FILLER
                      + r")\s*năm\s*(?P<year>\d{4}|\d{2}(?!\d)|" + _FILLER + ")",
                      re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^\(.*\)$")  # "(Đã ký)", "(Chữ ký, dấu)" in the room for the signature
_NAME_WORD = re.compile(r"^[^\W\d_][^\W\d_]*$")
MAX_PAGES_SCANNED = 30  # the signer block is on the last page, or before the appendices
_pdfium_lock = threading.Lock()  # PDFium is not thread-safe


@dataclass(frozen=True)
class Glyph:
    char: str
    x0: float
    x1: float
    bottom: float
    top: float
    baseline: float
    size: float
    bold: bool
    italic: bool


@dataclass(frozen=True)
class Row:
    """Glyphs on one baseline, in visual coordinates, left to right; ``text`` has one space per gap."""

    glyphs: tuple[Glyph, ...]
    text: str
    index: tuple[int, ...]
    """For each character of ``text``, the glyph it came from (-1 for a space standing for a gap)."""

    @property
    def baseline(self) -> float:
        return self.glyphs[0].baseline

    def span(self, start: int, end: int) -> tuple[Glyph, ...]:
        return tuple(self.glyphs[i] for i in self.index[start:end] if i >= 0 and not self.glyphs[i].char.isspace())


@dataclass(frozen=True)
class Segment:
    """A run of text on one row with no column-sized gap: a line of one column."""

    text: str
    x0: float
    x1: float
    bottom: float
    top: float
    baseline: float
    size: float
    bold: bool

    @property
    def centre(self) -> float:
        return (self.x0 + self.x1) / 2


@dataclass(frozen=True)
class Blank:
    """A place to write a value in: user-space rectangle whose baseline sits at 35 % of a line."""

    page_ix: int
    rect: Rect
    """User space; height 1.3 x size with the baseline 0.35 x size above the visual bottom."""
    size: float
    italic: bool
    align: str
    """left, center or right."""


@dataclass(frozen=True)
class NumberLine:
    page_ix: int
    blank: Blank | None
    """None when the draft already prints a number."""
    printed: str | None
    notation: str


@dataclass(frozen=True)
class DateLine:
    page_ix: int
    day: Blank | None
    month: Blank | None
    year: Blank | None
    printed: tuple[str | None, str | None, str | None]
    """Day, month and year as printed when not blank."""


@dataclass(frozen=True)
class SignerBlock:
    page_ix: int
    lines: tuple[str, ...]
    """The prefix line(s) and position line(s), top to bottom."""
    name: str
    space: Rect
    """The room between the last position line and the name, in visual coordinates."""
    centre: float
    """The name's centre (visual x)."""

    @property
    def prefix(self) -> str | None:
        return self.lines[0] if self.lines and _PREFIX_RE.match(self.lines[0]) else None


@dataclass(frozen=True)
class DraftLayout:
    number: NumberLine | None = None
    date: DateLine | None = None
    signer: SignerBlock | None = None
    problems: tuple[str, ...] = field(default=())
    """What looked like a blank or a signer block but could not be read unambiguously."""
    number_problem: str | None = None
    date_problem: str | None = None


# -- reading glyphs --------------------------------------------------------------------------------

def _glyphs(textpage: object, geometry: PageGeometry) -> list[Glyph]:
    import pypdfium2.raw as raw

    handle = textpage.raw  # type: ignore[attr-defined]
    out: list[Glyph] = []
    x, y = ctypes.c_double(), ctypes.c_double()
    left, right, bottom, top = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    name = ctypes.create_string_buffer(96)
    flags = ctypes.c_int()
    for i in range(raw.FPDFText_CountChars(handle)):
        if raw.FPDFText_IsGenerated(handle, i):
            continue
        code = raw.FPDFText_GetUnicode(handle, i)
        if code in (0, 0xFFFE, 0xFFFF) or code > 0x10FFFF:
            continue
        char = chr(code)
        if char in "\r\n\x02":
            continue
        if unicodedata.combining(char) and out:  # a decomposed accent: part of the previous letter
            prev = out[-1]
            out[-1] = Glyph(unicodedata.normalize("NFC", prev.char + char), prev.x0, prev.x1, prev.bottom,
                            prev.top, prev.baseline, prev.size, prev.bold, prev.italic)
            continue
        raw.FPDFText_GetCharOrigin(handle, i, x, y)
        raw.FPDFText_GetCharBox(handle, i, left, right, bottom, top)
        size = float(raw.FPDFText_GetFontSize(handle, i))
        if size <= 0.5 or size > 200:
            continue
        raw.FPDFText_GetFontInfo(handle, i, name, len(name), flags)
        font = name.value.decode("latin-1", "replace").lower()
        weight = raw.FPDFText_GetFontWeight(handle, i)
        bold = weight >= 600 or "bold" in font or "black" in font or bool(flags.value & 0x40000)
        italic = "italic" in font or "oblique" in font or bool(flags.value & 0x40)
        ox, oy = geometry.to_visual(x.value, y.value)
        ax, ay = geometry.to_visual(left.value, bottom.value)
        bx, by = geometry.to_visual(right.value, top.value)
        x0, x1 = min(ax, bx), max(ax, bx)
        if char.isspace() or x1 - x0 < 0.01:
            x0 = x1 = ox if not char.isspace() else x0
        out.append(Glyph(char, x0, x1, min(ay, by), max(ay, by), oy, size, bold, italic))
    return out


def _rows(glyphs: Sequence[Glyph]) -> list[Row]:
    """Glyphs grouped by baseline (top of the page first), each row left to right."""
    rows: list[list[Glyph]] = []
    for glyph in sorted(glyphs, key=lambda g: -g.baseline):
        if rows and abs(rows[-1][0].baseline - glyph.baseline) <= 0.3 * max(glyph.size, rows[-1][0].size):
            rows[-1].append(glyph)
        else:
            rows.append([glyph])
    out = []
    for row in rows:
        row.sort(key=lambda g: g.x0)
        text: list[str] = []
        index: list[int] = []
        prev: Glyph | None = None
        for i, glyph in enumerate(row):
            if glyph.char.isspace():
                if text and text[-1] != " ":
                    text.append(" ")
                    index.append(i)
                continue
            if prev is not None and glyph.x0 - prev.x1 > 0.2 * glyph.size and text and text[-1] != " ":
                text.append(" ")
                index.append(-1)
            text.append(glyph.char)
            index.append(i)
            prev = glyph
        if any(not c.isspace() for c in text):
            out.append(Row(tuple(row), "".join(text), tuple(index)))
    return out


def _segments(row: Row) -> list[Segment]:
    """A row cut where the gap between two glyphs is wider than a column gap (2 em)."""
    out: list[Segment] = []
    run: list[Glyph] = []

    def close() -> None:
        letters = [g for g in run if not g.char.isspace()]
        if letters:
            text = ""
            for a, b in zip(letters, [*letters[1:], None], strict=False):
                text += a.char
                if b is not None and b.x0 - a.x1 > 0.2 * a.size:
                    text += " "
            size = max(g.size for g in letters)
            out.append(Segment(re.sub(r"\s+", " ", text).strip(), letters[0].x0, letters[-1].x1,
                               min(g.bottom for g in letters), max(g.top for g in letters), letters[0].baseline,
                               size, sum(g.bold for g in letters) * 2 > len(letters)))

    last: Glyph | None = None
    for glyph in row.glyphs:
        if glyph.char.isspace():
            continue
        if last is not None and glyph.x0 - last.x1 > 2.0 * max(glyph.size, last.size):
            close()
            run = []
        run.append(glyph)
        last = glyph
    close()
    return out


# -- finding the blanks ---------------------------------------------------------------------------

def _blank(page_ix: int, geometry: PageGeometry, x0: float, x1: float, baseline: float, size: float,
           italic: bool, align: str) -> Blank:
    visual = (x0, baseline - 0.35 * size, x1, baseline + 0.95 * size)
    return Blank(page_ix, geometry.rect_to_user(visual), size, italic, align)


def _find_number(rows: Sequence[Row], page_ix: int, geometry: PageGeometry) -> tuple[NumberLine | None, str | None]:
    for row in rows:
        match = _NUMBER_RE.search(row.text)
        if match is None:
            continue
        head = row.span(match.start(), match.start("fill"))
        slash_start = row.text.index("/", match.end("fill"))
        slash = row.span(slash_start, slash_start + 1)
        if not head or not slash:
            continue
        notation = match.group("notation").strip(".;,")
        fill = match.group("fill")
        size = head[0].size
        if fill.isdigit():
            return NumberLine(page_ix, None, fill, notation), None
        x0, x1 = head[-1].x1 + 0.25 * size, slash[0].x0 - 0.05 * size
        if x1 - x0 < 1.0 * size:
            return None, (f"the blank between 'Số:' and '/{notation}' is too narrow for a number: leave a few "
                          "spaces there in the draft")
        blank = _blank(page_ix, geometry, x0, x1, head[0].baseline, size, head[0].italic, "right")
        return NumberLine(page_ix, blank, None, notation), None
    for row in rows:
        if _NUMBER_HEAD_RE.search(row.text):
            return None, f"the line {row.text.strip()[:60]!r} has no '/NOTATION' after the blank for the number"
    return None, None


def _find_date(rows: Sequence[Row], page_ix: int, geometry: PageGeometry) -> tuple[DateLine | None, str | None]:
    for row in rows:
        match = _DATE_RE.search(row.text)
        if match is None:
            continue
        words = {}
        for word in ("ngày", "tháng", "năm"):
            start = row.text.lower().index(word, match.start() if word == "ngày" else match.start("day"))
            words[word] = row.span(start, start + len(word))
        if not all(words.values()):
            continue
        ngay, thang, nam = words["ngày"], words["tháng"], words["năm"]
        size, italic, baseline = ngay[0].size, ngay[0].italic, ngay[0].baseline
        printed = tuple(match.group(g) if match.group(g) and match.group(g)[0].isdigit() else None
                        for g in ("day", "month", "year"))
        gaps = {"day": (ngay[-1].x1, thang[0].x0), "month": (thang[-1].x1, nam[0].x0)}
        for what, (start, end) in gaps.items():
            if end - start < 0.9 * size:
                return None, (f"the blank for the {what} in {row.text.strip()[:60]!r} is too narrow: leave a few "
                              "spaces there in the draft")
        # a centred value may run into the words' side bearings: the field is wider than the gap
        reach = 0.6 * size
        day = None if printed[0] else _blank(page_ix, geometry, gaps["day"][0] - reach, gaps["day"][1] + reach,
                                             baseline, size, italic, "center")
        month = None if printed[1] else _blank(page_ix, geometry, gaps["month"][0] - reach,
                                               gaps["month"][1] + reach, baseline, size, italic, "center")
        year = None
        if not printed[2] or len(printed[2]) == 2:  # "năm 20  ": the century is printed, the rest is blank
            year_head = nam
            if printed[2]:
                year_head = row.span(match.start("year"), match.end("year"))
            after = [g for g in row.glyphs if g.x0 > year_head[-1].x1 + 0.1 * size and not g.char.isspace()
                     and g.char not in "._…-–"]
            limit = min([g.x0 for g in after] + [geometry.visual_size[0]])
            start = year_head[-1].x1 + (0.02 if printed[2] else 0.25) * size
            end = min(start + 2.6 * size, limit - 0.1 * size)
            if end - start < 2 * size:
                return None, (f"there is no room for the year after 'năm' in {row.text.strip()[:60]!r}: leave "
                              "a few spaces there or type the year in the draft")
            year = _blank(page_ix, geometry, start, end, baseline, size, italic, "left")
        return DateLine(page_ix, day, month, year, printed), None  # type: ignore[arg-type]
    return None, None


def _looks_like_name(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 6 and all(_NAME_WORD.match(w) and w[0].isupper() and not w[1:].isupper()
                                        for w in words)


def _uppercase(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _signer_blocks(segments: Sequence[Segment], page_ix: int, names: Sequence[str]) -> list[SignerBlock]:
    wanted = {_fold(n) for n in names if n}
    blocks = []
    for seg in segments:
        if not (_looks_like_name(seg.text) or _fold(seg.text) in wanted):
            continue
        above = [s for s in segments if s.baseline > seg.baseline + 0.5 * seg.size
                 and s.x0 - seg.size <= seg.centre <= s.x1 + seg.size and not _PLACEHOLDER.match(s.text)]
        if not above:
            continue
        nearest = min(above, key=lambda s: s.baseline)
        gap = nearest.bottom - seg.top
        if not (_uppercase(nearest.text) and 1.5 * seg.size <= gap <= 16 * seg.size):
            continue
        lines = [nearest]
        while True:
            higher = [s for s in above if s.baseline > lines[-1].baseline + 0.3 * s.size
                      and s.baseline - lines[-1].baseline <= 2.2 * max(s.size, lines[-1].size)]
            if not higher:
                break
            nxt = min(higher, key=lambda s: s.baseline)
            if not _uppercase(nxt.text) or len(lines) >= 4:
                break
            lines.append(nxt)
        lines.reverse()
        width = max([s.x1 - s.x0 for s in lines] + [seg.x1 - seg.x0])
        space = (seg.centre - width / 2, seg.top + 0.15 * seg.size, seg.centre + width / 2,
                 nearest.bottom - 0.15 * seg.size)
        blocks.append(SignerBlock(page_ix, tuple(s.text for s in lines), seg.text, space, seg.centre))
    return blocks


def _orphan_prefix(segments: Sequence[Segment]) -> str | None:
    for seg in segments:
        if _PREFIX_RE.match(seg.text) and _uppercase(seg.text) and len(seg.text) <= 80:
            return seg.text
    return None


# -- the entry point --------------------------------------------------------------------------------

def read_draft(path: Path, geometries: Sequence[PageGeometry], *, names: Sequence[str] = (),
               password: bytes | None = None, want_signer: bool = True) -> DraftLayout:
    """The draft's number line and date line (page 1) and signer block (the last page that has one).

    ``names`` are the signer's name as docsign knows it (request, certificate): a block whose name
    matches wins when a page has several (minutes, joint documents)."""
    import pypdfium2 as pdfium

    with _pdfium_lock:
        try:
            document = pdfium.PdfDocument(str(path), password=password.decode("latin-1") if password else None)
        except pdfium.PdfiumError as exc:
            log.warning("cannot read the text of %s (%s): no blanks found", path.name, exc)
            return DraftLayout()
        try:
            return _read(document, geometries, names, want_signer)
        finally:
            document.close()


def _page_rows(document: object, page_ix: int, geometry: PageGeometry) -> list[Row]:
    page = document[page_ix]  # type: ignore[index]
    try:
        textpage = page.get_textpage()
        try:
            return _rows(_glyphs(textpage, geometry))
        finally:
            textpage.close()
    finally:
        page.close()


def _read(document: object, geometries: Sequence[PageGeometry], names: Sequence[str],
          want_signer: bool) -> DraftLayout:
    count = min(len(document), len(geometries))  # type: ignore[arg-type]
    if count == 0:
        return DraftLayout()
    first = _page_rows(document, 0, geometries[0])
    number, number_problem = _find_number(first, 0, geometries[0])
    date, date_problem = _find_date(first, 0, geometries[0])
    signer: SignerBlock | None = None
    problems: list[str] = []
    if want_signer:
        for page_ix in range(count - 1, max(count - 1 - MAX_PAGES_SCANNED, -1), -1):
            rows = first if page_ix == 0 else _page_rows(document, page_ix, geometries[page_ix])
            segments = [s for row in rows for s in _segments(row)]
            blocks = _signer_blocks(segments, page_ix, names)
            if blocks:
                signer, problem = _choose(blocks, names, page_ix)
                if problem:
                    problems.append(problem)
                break
            orphan = _orphan_prefix(segments)
            if orphan:
                problems.append(f"page {page_ix + 1} has the signing line {orphan!r} but no signer's name below "
                                "it with room for the signature")
                break
    return DraftLayout(number, date, signer, tuple(problems), number_problem, date_problem)


def _choose(blocks: Sequence[SignerBlock], names: Sequence[str], page_ix: int) -> tuple[SignerBlock | None, str | None]:
    if len(blocks) == 1:
        return blocks[0], None
    wanted = {_fold(n) for n in names if n}
    matching = [b for b in blocks if _fold(b.name) in wanted]
    if len(matching) == 1:
        return matching[0], None
    listed = "; ".join(f"{' / '.join(b.lines)} / {b.name}" for b in blocks)
    return None, (f"page {page_ix + 1} has {len(blocks)} signer blocks ({listed}) and none is only the signer's "
                  "name")


def same_person(a: str, b: str) -> bool:
    """Names compared as a clerk would: case, spacing and Unicode composition do not matter."""
    return _fold(a) == _fold(b)
