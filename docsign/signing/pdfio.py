"""Reading the input PDF with clear errors, and writing the output completely or not at all."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfError, PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.errors import NotFound
from docsign.signing.errors import DamagedPdf, EncryptedPdf, NotAPdf, OutputNotWritable

log = logging.getLogger(__name__)
HEADER_WINDOW = 1024
TAIL_WINDOW = 2048


def open_reader(path: Path, stream: IO[bytes], password: bytes | None = None) -> PdfFileReader:
    """A pyHanko reader over ``stream``, after checks that turn bad files into typed errors."""
    name = path.name
    head = stream.read(HEADER_WINDOW)
    if b"%PDF-" not in head:
        raise NotAPdf(f"{name} is not a PDF (it does not start with %PDF-): upload the PDF export of the document")
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(size - TAIL_WINDOW, 0))
    if b"%%EOF" not in stream.read():
        raise DamagedPdf(f"{name} is truncated (no end-of-file marker): copy or download it again")
    stream.seek(0)
    try:
        reader = PdfFileReader(stream, strict=True)
        if reader.xrefs.hybrid_xrefs_present:
            # a hybrid-reference file (classic table plus /XRefStm): strict reading ignores the objects only
            # the xref stream lists, and pyHanko signs such files only when reading them in full
            raise PdfStrictReadError("hybrid cross-reference sections")
    except PdfStrictReadError as exc:
        # legal-enough files real writers make that pyHanko's strict mode refuses: Pillow's 65536 in the first
        # xref entry, objects with a generation number that no free entry announced, hybrid references
        log.info("%s: reading leniently (%s)", name, _short(exc))
        stream.seek(0)
        try:
            reader = PdfFileReader(stream, strict=False)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc2:
            raise DamagedPdf(f"{name} is damaged ({_short(exc2)}): open and re-save it with a PDF tool, or "
                             "export it again") from None
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DamagedPdf(f"{name} is damaged ({_short(exc)}): open and re-save it with a PDF tool, or "
                         "export it again") from None
    if reader.encrypted:
        if password is None:
            raise EncryptedPdf(f"{name} is password-protected: remove the password before signing")
        result = reader.decrypt(password)
        if result.status is AuthStatus.FAILED:
            raise EncryptedPdf(f"the password given for {name} does not open it")
    try:
        count = int(reader.root["/Pages"]["/Count"])
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DamagedPdf(f"{name} is damaged: its page tree cannot be read ({_short(exc)})") from None
    if count < 1:
        raise DamagedPdf(f"{name} has no pages")
    return reader


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


Rect = tuple[float, float, float, float]
A4 = (0.0, 0.0, 595.0, 842.0)  # what Vietnamese documents use, when a page gives no box at all


def _inherited(page: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """A page attribute, following inheritance up the page tree (MediaBox, CropBox, Rotate, Resources)."""
    node: generic.PdfObject | None = page
    for _ in range(64):  # a loop in /Parent links must not hang us
        if not isinstance(node, generic.DictionaryObject):
            return None
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return None


def _box(value: generic.PdfObject | None) -> Rect | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] - box[0] >= 1 and box[3] - box[1] >= 1 else None


@dataclass(frozen=True)
class PageGeometry:
    """Where a page is and how a viewer turns it: boxes in user space, and /Rotate.

    Visual coordinates put the origin at the lower-left corner of the page as it is shown (CropBox,
    rotated), x to the right and y up, so a layout can be planned as the reader sees the page.
    """

    media: Rect
    crop: Rect
    """The visible area: CropBox clipped to MediaBox."""
    rotate: int
    """0, 90, 180 or 270: how far the viewer turns the page clockwise."""

    @property
    def visual_size(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.crop
        return (y2 - y1, x2 - x1) if self.rotate in (90, 270) else (x2 - x1, y2 - y1)

    def to_visual(self, x: float, y: float) -> tuple[float, float]:
        x1, y1, x2, y2 = self.crop
        u, v, w, h = x - x1, y - y1, x2 - x1, y2 - y1
        if self.rotate == 90:
            return v, w - u
        if self.rotate == 180:
            return w - u, h - v
        if self.rotate == 270:
            return h - v, u
        return u, v

    def to_user(self, vx: float, vy: float) -> tuple[float, float]:
        x1, y1, x2, y2 = self.crop
        w, h = x2 - x1, y2 - y1
        if self.rotate == 90:
            u, v = w - vy, vx
        elif self.rotate == 180:
            u, v = w - vx, h - vy
        elif self.rotate == 270:
            u, v = vy, h - vx
        else:
            u, v = vx, vy
        return u + x1, v + y1

    def rect_to_user(self, rect: Rect) -> Rect:
        ax, ay = self.to_user(rect[0], rect[1])
        bx, by = self.to_user(rect[2], rect[3])
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)

    def rect_to_visual(self, rect: Rect) -> Rect:
        ax, ay = self.to_visual(rect[0], rect[1])
        bx, by = self.to_visual(rect[2], rect[3])
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def page_geometry(page: generic.DictionaryObject) -> PageGeometry:
    """The page's boxes and rotation, inherited from the page tree where the page does not say."""
    media = _box(_inherited(page, "/MediaBox")) or A4
    crop = _box(_inherited(page, "/CropBox")) or media
    crop = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
    if crop[2] - crop[0] < 1 or crop[3] - crop[1] < 1:
        crop = media
    try:
        rotate = int(_inherited(page, "/Rotate") or 0) % 360  # type: ignore[call-overload]
    except (TypeError, ValueError):
        rotate = 0
    return PageGeometry(media, crop, rotate if rotate in (0, 90, 180, 270) else 0)


def appearance_matrix(rotate: int, width: float, height: float) -> tuple[float, ...]:
    """The matrix that draws content laid out upright (visual) into a widget of user-space size
    ``width`` x ``height`` on a page a viewer turns by ``rotate`` degrees."""
    if rotate == 90:
        return (0, 1, -1, 0, width, 0)
    if rotate == 180:
        return (-1, 0, 0, -1, width, height)
    if rotate == 270:
        return (0, -1, 1, 0, 0, height)
    return (1, 0, 0, 1, 0, 0)


def page_refs(reader: PdfFileReader) -> list[generic.Reference]:
    """References of all pages in order (the page tree walked once)."""
    out: list[generic.Reference] = []

    def walk(node_ref: generic.IndirectObject, depth: int) -> None:
        node = node_ref.get_object()
        if depth > 64:
            raise DamagedPdf("the page tree is too deep (a loop?)")
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            for kid in node["/Kids"]:
                walk(kid, depth + 1)
        else:
            out.append(node_ref.reference)

    walk(reader.root.raw_get("/Pages"), 0)
    return out


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``path``, renamed over it only when the block succeeds."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write into {directory} ({exc.strerror})") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename durable where the platform allows it
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_input(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except IsADirectoryError:
        raise NotAPdf(f"{path} is a folder, not a PDF") from None
    except OSError as exc:
        raise NotFound(f"cannot read {path} ({exc.strerror})") from None
