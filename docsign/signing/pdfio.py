"""Reading the input PDF with clear errors, and writing the output completely or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.errors import NotFound
from docsign.signing.errors import DamagedPdf, EncryptedPdf, NotAPdf, OutputNotWritable

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


def media_box(page: generic.DictionaryObject) -> tuple[float, float, float, float]:
    """The page's MediaBox, following inheritance up the page tree."""
    node: generic.DictionaryObject | None = page
    while node is not None:
        if "/MediaBox" in node:
            x1, y1, x2, y2 = (float(v) for v in node["/MediaBox"])
            return x1, y1, x2, y2
        node = node.get("/Parent")
    return 0.0, 0.0, 595.0, 842.0  # A4, what Vietnamese documents use


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
