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


def measure(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` in points (for layouts that need it before drawing)."""
    return _metrics(bold).width(text) * size


class _Metrics:
    def __init__(self, bold: bool) -> None:
        from fontTools.ttLib import TTFont

        font = TTFont(str(font_path("bold" if bold else "regular")))
        self.cmap = font.getBestCmap()
        self.advance = font["hmtx"].metrics
        self.upem = font["head"].unitsPerEm

    def width(self, text: str) -> float:
        total = 0
        for char in text:
            glyph = self.cmap.get(ord(char))
            total += self.advance[glyph][0] if glyph else self.upem // 2
        return total / self.upem


_metrics_cache: dict[bool, _Metrics] = {}


def _metrics(bold: bool) -> _Metrics:
    if bold not in _metrics_cache:
        _metrics_cache[bold] = _Metrics(bold)
    return _metrics_cache[bold]


@dataclass(frozen=True)
class BlockStyle(BaseStampStyle):
    """A pyHanko stamp style that draws a docsign layout (no border, no background)."""

    layout_fn: Layout | None = None
    border_width: int = 0

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict) -> BlockStamp:
        return BlockStamp(writer, self, box)


class BlockStamp(BaseStamp):
    def __init__(self, writer: BasePdfFileWriter, style: BlockStyle, box: layout.BoxConstraints) -> None:
        super().__init__(writer, style, box)
        self._fonts: dict[bool, tuple[str, GlyphAccumulator]] = {}

    def _font(self, bold: bool) -> tuple[str, GlyphAccumulator]:
        if bold not in self._fonts:
            name = "FB" if bold else "FR"
            factory = GlyphAccumulatorFactory(str(font_path("bold" if bold else "regular")),
                                              create_objstream_if_needed=False)
            engine = factory.create_font_engine(self.writer)
            self._fonts[bold] = (name, engine)
        return self._fonts[bold]

    def _render_inner_content(self) -> list[bytes]:
        style = self.style
        assert isinstance(style, BlockStyle) and style.layout_fn is not None
        ops: list[bytes] = []
        for item in style.layout_fn(self.box.width, self.box.height):
            if isinstance(item, Picture):
                ops.append(self._picture(item))
            elif item.text:
                ops.append(self._text(item))
        for name, engine in self._fonts.values():
            self.set_resource(ResourceType.FONT, pdf_name("/" + name), engine.as_resource())
        return ops

    def _text(self, item: Text) -> bytes:
        name, engine = self._font(item.bold)
        size = item.size
        width = measure(item.text, size, item.bold)
        if item.max_width and width > item.max_width:
            size = size * item.max_width / width
            width = item.max_width
        engine.font_size = size
        shaped = engine.shape(item.text)
        x = item.x - (width / 2 if item.align == "center" else width if item.align == "right" else 0)
        skew = b" 1 0 0.2 1 %.2f %.2f Tm" % (x, item.y) if item.italic else b" 1 0 0 1 %.2f %.2f Tm" % (x, item.y)
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
