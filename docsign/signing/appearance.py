"""Visible signature blocks: text lines in the embedded Vietnamese font, and PNG images, drawn into a
signature widget's appearance stream through pyHanko's stamp extension point.

A layout is a function from the widget's size to a list of :class:`Text` and :class:`Picture`
items, in points from the widget's lower-left corner; :mod:`docsign.signing.roles` holds the
Decree 30 layouts.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from docsign.signing.errors import BadSignRequest
from docsign.signing.fonts import font_path
from docsign.signing.pdfio import appearance_matrix

BLACK = (0.0, 0.0, 0.0)
RED = (0.85, 0.1, 0.1)
BLUE = (0.1, 0.2, 0.65)


@dataclass(frozen=True)
class Text:
    text: str
    x: float
    """Left edge, or centre when ``align`` is "center", or right edge for "right"."""
    y: float
    """Baseline."""
    size: float = 10
    bold: bool = False
    italic: bool = False
    align: str = "left"
    color: tuple[float, float, float] = BLACK
    max_width: float | None = None
    """Shrink the font so the line fits this width."""


@dataclass(frozen=True)
class Picture:
    png: bytes
    x: float
    y: float
    width: float
    height: float
    keep_aspect: bool = True


Item = Text | Picture
Layout = Callable[[float, float], Sequence[Item]]


def _variant(bold: bool, italic: bool) -> str:
    """The font instance: bold, italic (a true italic for regular text) or regular."""
    return "bold" if bold else "italic" if italic else "regular"


def measure(text: str, size: float, bold: bool = False, italic: bool = False) -> float:
    """Width of ``text`` in points (for layouts that need it before drawing)."""
    return _metrics(_variant(bold, italic)).width(text) * size


class _Metrics:
    def __init__(self, variant: str) -> None:
        from fontTools.ttLib import TTFont

        font = TTFont(str(font_path(variant)))
        self.cmap = font.getBestCmap()
        self.advance = font["hmtx"].metrics
        self.upem = font["head"].unitsPerEm

    def width(self, text: str) -> float:
        total = 0
        for char in text:
            glyph = self.cmap.get(ord(char))
            total += self.advance[glyph][0] if glyph else self.upem // 2
        return total / self.upem


_metrics_cache: dict[str, _Metrics] = {}


def _metrics(variant: str) -> _Metrics:
    if variant not in _metrics_cache:
        _metrics_cache[variant] = _Metrics(variant)
    return _metrics_cache[variant]


@dataclass(frozen=True)
class BlockStyle(BaseStampStyle):
    """A pyHanko stamp style that draws a docsign layout (no border, no background)."""

    layout_fn: Layout | None = None
    border_width: int = 0
    rotate: int = 0
    """The page's /Rotate: the layout is drawn turned back by it, so it reads upright on screen."""

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict) -> BlockStamp:
        return BlockStamp(writer, self, box)


class BlockStamp(BaseStamp):
    def __init__(self, writer: BasePdfFileWriter, style: BlockStyle, box: layout.BoxConstraints) -> None:
        super().__init__(writer, style, box)
        self._fonts: dict[str, tuple[str, GlyphAccumulator]] = {}

    def _font(self, variant: str) -> tuple[str, GlyphAccumulator]:
        if variant not in self._fonts:
            name = {"bold": "FB", "italic": "FI"}.get(variant, "FR")
            factory = GlyphAccumulatorFactory(str(font_path(variant)), create_objstream_if_needed=False)
            engine = factory.create_font_engine(self.writer)
            self._fonts[variant] = (name, engine)
        return self._fonts[variant]

    def _render_inner_content(self) -> list[bytes]:
        style = self.style
        assert isinstance(style, BlockStyle) and style.layout_fn is not None
        ops: list[bytes] = []
        width, height = self.box.width, self.box.height
        if style.rotate:
            ops.append(b"q %g %g %g %g %.2f %.2f cm" % appearance_matrix(style.rotate, width, height))
            if style.rotate in (90, 270):
                width, height = height, width
        for item in style.layout_fn(width, height):
            if isinstance(item, Picture):
                ops.append(self._picture(item))
            elif item.text:
                ops.append(self._text(item))
        if style.rotate:
            ops.append(b"Q")
        for name, engine in self._fonts.values():
            self.set_resource(ResourceType.FONT, pdf_name("/" + name), engine.as_resource())
        return ops

    def _text(self, item: Text) -> bytes:
        variant = _variant(item.bold, item.italic)
        name, engine = self._font(variant)
        size = item.size
        width = measure(item.text, size, item.bold, item.italic)
        if item.max_width and width > item.max_width:
            size = size * item.max_width / width
            width = item.max_width
        engine.font_size = size
        shaped = engine.shape(item.text)
        x = item.x - (width / 2 if item.align == "center" else width if item.align == "right" else 0)
        slant = item.italic and variant != "italic"  # bold italic: the bold font slanted
        skew = b" 1 0 0.2 1 %.2f %.2f Tm" % (x, item.y) if slant else b" 1 0 0 1 %.2f %.2f Tm" % (x, item.y)
        return b"q %.3f %.3f %.3f rg BT /%s %.2f Tf%s %s ET Q" % (
            *item.color, name.encode(), size, skew, shaped.graphics_ops)

    def _picture(self, item: Picture) -> bytes:
        try:
            image = Image.open(io.BytesIO(item.png))
            image.load()
        except Exception as exc:  # Pillow raises many types for a bad file
            raise BadSignRequest(f"the signature/seal image is not a readable PNG ({type(exc).__name__})") from None
        width, height = item.width, item.height
        x, y = item.x, item.y
        if item.keep_aspect:
            scale = min(width / image.width, height / image.height)
            x += (width - image.width * scale) / 2
            y += (height - image.height * scale) / 2
            width, height = image.width * scale, image.height * scale
        picture = PdfImage(image, writer=self.writer, box=layout.BoxConstraints(width, height))
        drawn = picture.render()
        self.import_resources(picture.resources)
        return b"q 1 0 0 1 %.2f %.2f cm %s Q" % (x, y, drawn)
