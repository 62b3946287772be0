"""Reading the input PDF with clear errors, and writing the output completely or not at all."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, overload

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError, PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.errors import NotFound
from docsign.signing.errors import DamagedPdf, EncryptedPdf, NotAPdf, OutputNotWritable
from docsign.signing.lazyxref import reader_class

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
        reader = reader_class()(stream, strict=True)
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
            reader = reader_class()(stream, strict=False)
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
    return [page.reference for page in PageTree(reader.root).all()]


def _is_node(obj: generic.PdfObject) -> bool:
    """An inner node of the page tree (/Pages), not a page."""
    return isinstance(obj, generic.DictionaryObject) and (obj.get("/Type") == "/Pages" or "/Kids" in obj)


SCAN_SPAN = 64 << 20
"""Kids spread over more of the file than this are read one by one rather than looked at as text."""
OBJECT_WINDOW = 4096
"""A page dictionary longer than this is read rather than looked at."""
_PAGE_TEXT_END = re.compile(rb"endobj|/Kids|/Pages|[#(%]|stream")
"""The end of a page's text, or before it what a tree node's text must hold (/Kids or /Pages) or what could
hide either or an "endobj" (a #-escape, a string, a comment, a stream)."""
_TREE_ERRORS = (PdfError, KeyError, TypeError, ValueError, IndexError, AttributeError)


class PageTree:
    """The pages of a document, read only as far as a question needs.

    Walking a 2,000-page tree parses 2,000 page dictionaries; signing needs one page (where the widget
    goes) and the page count. A page is found by its index going down through /Count, as pyHanko does.
    pyHanko reads every kid before the wanted one to learn whether it is a page or a subtree (an empty
    subtree counts for nothing, and real files have them); here, in a node whose /Count equals its number
    of kids, the kids before the wanted one are only looked at as text in the file: when none of them
    names /Kids or /Pages (and none holds a string, comment, stream or #-escape that could hide one),
    they are all pages and the wanted kid is taken directly (the flat trees most writers make). Kids in
    object streams, and anything unexpected on the way (a /Count that does not add up, a kid in the
    wrong place, a loop), make it read kids as pyHanko does, or walk the whole tree as :func:`page_refs`
    does, so a damaged tree is read the way it always was.

    ``root`` is the document catalog as seen by a reader or an incremental writer (the writer sees its own
    changes to the tree); ``reader`` is the file's reader (without it, kids are always read).
    """

    def __init__(self, root: generic.DictionaryObject, reader: PdfFileReader | None = None) -> None:
        self._reader = reader
        self._root_ref = root.raw_get("/Pages")
        self.count = int(self._root_ref.get_object()["/Count"])
        self._all: list[generic.IndirectObject] | None = None
        self._geometries: dict[int, PageGeometry] = {}

    def __len__(self) -> int:
        return self.count

    def ref(self, ix: int) -> generic.IndirectObject:
        """The page at ``ix`` (0-based; negative counts from the end)."""
        if ix < 0:
            ix += self.count
        if not 0 <= ix < self.count:
            raise IndexError(f"page {ix + 1} of {self.count}")
        if self._all is None:
            try:
                found = self._descend(ix)
            except _TREE_ERRORS:
                found = None
            if found is not None:
                return found
        pages = self.all()
        if ix >= len(pages):
            raise DamagedPdf(f"the page tree says it has {self.count} pages but holds {len(pages)}")
        return pages[ix]

    def _descend(self, ix: int) -> generic.IndirectObject | None:
        node_ref, seen = self._root_ref, set()
        for _ in range(64):
            if node_ref.reference in seen:
                return None
            seen.add(node_ref.reference)
            node = node_ref.get_object()
            kids = node["/Kids"]
            if int(node["/Count"]) == len(kids) and self._all_pages(kids, ix):
                kid_ref = kids.raw_get(ix)
                kid = kid_ref.get_object()
                if not _is_node(kid) and kid.raw_get("/Parent").reference == node_ref.reference:
                    return kid_ref
            for kid_ref in kids:
                kid = kid_ref.get_object()
                size = int(kid["/Count"]) if _is_node(kid) else 1
                if ix < size:
                    if size == 1 and not _is_node(kid):
                        return kid_ref
                    node_ref = kid_ref
                    break
                ix -= size
            else:
                return None
        return None

    def _all_pages(self, kids: generic.ArrayObject, upto: int) -> bool:
        """Whether ``kids[:upto]`` are certainly pages, judged from their text in the file."""
        reader = self._reader
        if reader is None:
            return False
        offsets = []
        for kid in list(kids)[:upto]:  # iterating an ArrayObject gives references, not the objects
            if not isinstance(kid, generic.IndirectObject):
                return False
            marker = reader.xrefs[kid.reference]
            if not isinstance(marker, int):
                return False  # in an object stream (or missing): read it
            offsets.append(marker)
        if not offsets:
            return True
        stream = reader.stream
        low, high = min(offsets), max(offsets)
        if high - low > SCAN_SPAN:
            return False
        stream.seek(low)
        text = stream.read(high - low + OBJECT_WINDOW)
        search = _PAGE_TEXT_END.search
        for offset in offsets:
            found = search(text, offset - low, offset - low + OBJECT_WINDOW)
            if found is None or found.group() != b"endobj":
                return False
        return True

    def all(self) -> list[generic.IndirectObject]:
        """Every page in order: the whole tree walked (what the fast lookups fall back to)."""
        if self._all is None:
            out: list[generic.IndirectObject] = []

            def walk(node_ref: generic.IndirectObject, depth: int) -> None:
                if depth > 64:
                    raise DamagedPdf("the page tree is too deep (a loop?)")
                node = node_ref.get_object()
                if _is_node(node):
                    for kid in node["/Kids"]:
                        walk(kid, depth + 1)
                else:
                    out.append(node_ref)

            walk(self._root_ref, 0)
            self._all = out
        return self._all

    def index(self, page_ref: generic.IndirectObject) -> int | None:
        """The index of the page ``page_ref``, or None when it is not a page of this document."""
        ix = self._climb(page_ref)
        if ix is not None and 0 <= ix < self.count and self.ref(ix).reference == page_ref.reference:
            return ix
        refs = [page.reference for page in self.all()]
        return refs.index(page_ref.reference) if page_ref.reference in refs else None

    def _climb(self, node_ref: generic.IndirectObject) -> int | None:
        """The page's index counted going up through /Parent (checked by the caller going back down)."""
        try:
            ix = 0
            for _ in range(64):
                if node_ref.reference == self._root_ref.reference:
                    return ix
                parent_ref = node_ref.get_object().raw_get("/Parent")
                parent = parent_ref.get_object()
                kids = parent["/Kids"]
                position = [k.reference for k in kids].index(node_ref.reference)
                if int(parent["/Count"]) == len(kids):
                    ix += position
                else:
                    for kid_ref in list(kids)[:position]:
                        kid = kid_ref.get_object()
                        ix += int(kid["/Count"]) if _is_node(kid) else 1
                node_ref = parent_ref
        except _TREE_ERRORS:
            return None
        return None

    def geometry(self, ix: int) -> PageGeometry:
        if ix < 0:
            ix += self.count
        if ix not in self._geometries:
            self._geometries[ix] = page_geometry(self.ref(ix).get_object())
        return self._geometries[ix]

    @property
    def geometries(self) -> Sequence[PageGeometry]:
        """Every page's geometry as a sequence, each read when first asked for."""
        return _Geometries(self)


class _Geometries(Sequence[PageGeometry]):
    def __init__(self, tree: PageTree) -> None:
        self._tree = tree

    def __len__(self) -> int:
        return len(self._tree)

    @overload
    def __getitem__(self, ix: int) -> PageGeometry: ...

    @overload
    def __getitem__(self, ix: slice) -> Sequence[PageGeometry]: ...

    def __getitem__(self, ix: int | slice) -> PageGeometry | Sequence[PageGeometry]:
        if isinstance(ix, slice):
            return [self._tree.geometry(i) for i in range(*ix.indices(len(self)))]
        if not -len(self) <= ix < len(self):
            raise IndexError(ix)
        return self._tree.geometry(ix)


class IncrementalWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer, finding the page a widget goes on through a :class:`PageTree` (pyHanko's
    own lookup reads every page before the one it wants)."""

    IO_CHUNK_SIZE = 1 << 20  # copying the original in 4 KiB pieces (pyHanko's default) costs 2 MB / 4 KiB calls

    def __init__(self, stream: IO[bytes], reader: PdfFileReader) -> None:
        super().__init__(stream, prev=reader)
        self._pages: PageTree | None = None

    @property
    def pages(self) -> PageTree:
        if self._pages is None:
            self._pages = PageTree(self.root, self.prev)
        return self._pages

    def find_page_for_modification(self, page_ix: int) -> tuple[generic.IndirectObject, generic.PdfObject]:
        try:
            page_ref = self.pages.ref(page_ix)
        except IndexError:
            raise PdfError("Page index out of range") from None
        # the page's own /Resources or the nearest ancestor's, as pyHanko's walk returns them
        resources: generic.PdfObject = generic.DictionaryObject()
        node: generic.PdfObject | None = page_ref.get_object()
        for _ in range(64):
            if not isinstance(node, generic.DictionaryObject):
                break
            if "/Resources" in node:
                resources = node.raw_get("/Resources")
                break
            parent = node.get("/Parent")
            node = parent.get_object() if parent is not None else None
        return page_ref, resources


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
