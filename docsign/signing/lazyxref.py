"""A pyHanko reader that looks up cross-reference entries when they are used, for signing big files.

pyHanko's :class:`PdfFileReader` turns every entry of every cross-reference section into Python objects
before anything else happens: for a 2,000-page file (6,000 objects) that was most of a B-B signature,
although the incremental update reads a dozen objects. :class:`SigningReader` is that reader with one
difference: a classic cross-reference table whose entries are all in the standard 20-byte form is kept
as bytes, checked in one pass with a regular expression, and an entry is decoded when the object is
looked up (entry ``n`` of a subsection is at ``20 * n``). The whole table is decoded, exactly as
pyHanko's :meth:`XRefSectionData.process_entries` would, only when something asks for all of it
(pyHanko's revision analysis, or strict checks that need more than the table's free and
higher-generation entries, which are found by regular expression).

Everything else is pyHanko's: a table in any other form (entries of other lengths, unknown markers,
generations above 65535, a hybrid ``/XRefStm``), cross-reference streams, startxref correction, the
strict consistency checks, object reading and decryption. :func:`reader_class` gives pyHanko's own
reader for releases other than the ones this was written and tested for (the reader's constructor is
reproduced here, and a test checks it still matches).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodeContext, DecodeLimits
from pyhanko.pdf_utils.reader import PdfFileReader, _read_header_version, process_data_at_eof
from pyhanko.pdf_utils.xref import (
    ObjStreamRef,
    XRefBuilder,
    XRefCache,
    XRefEntry,
    XRefSection,
    XRefSectionData,
    XRefSectionMetaInfo,
    XRefSectionType,
    XRefType,
    _prev,
    read_object_header,
)
from pyhanko.version import __version__ as PYHANKO_VERSION

_generic_log = logging.getLogger(generic.__name__)  # where pyHanko logs what it reads
SUPPORTED_PYHANKO = ("0.38.",)
"""pyHanko releases (prefixes) whose reader constructor :class:`SigningReader` reproduces."""

_WS = rb"[ \n\r\t\f\x00]"
_HEADER = re.compile(_WS + rb"*(\d+)" + _WS + rb"+(\d+)" + _WS + rb"*")
_ENTRY = rb"\d{10} \d{5} [nf](?: \r| \n|\r\n)"
ENTRY_SIZE = 20
_NOT_ZERO = re.compile(rb"[^0]")
MARKER, GENERATION = 17, slice(11, 16)
"""Where an entry's marker byte and generation digits are."""
_HEAD_WINDOW = 64


def supported(version: str | None = None) -> bool:
    return (version or PYHANKO_VERSION).startswith(SUPPORTED_PYHANKO)


class _Subsection:
    __slots__ = ("count", "data", "first")

    def __init__(self, first: int, count: int, data: bytes) -> None:
        self.first, self.count, self.data = first, count, data


class LazyTableData(XRefSectionData):
    """One classic table's entries, as bytes until asked for (the same answers as pyHanko's dictionaries)."""

    def __init__(self, subsections: list[_Subsection], strict: bool) -> None:
        # no super().__init__(): its dictionaries are the properties below, filled on first use
        self._subsections = subsections
        self._strict = strict
        self._full: XRefSectionData | None = None
        self.hybrid = None

    # -- pyHanko's attributes, decoded in full when used ------------------------------------------

    def _decoded(self) -> XRefSectionData:
        if self._full is None:
            full = XRefSectionData()
            full.process_entries(self._entries(), strict=self._strict)
            self._full = full
        return self._full

    def _entries(self) -> Iterator[XRefEntry]:
        for sub in self._subsections:
            data = sub.data
            for i in range(sub.count):
                line = data[i * ENTRY_SIZE:(i + 1) * ENTRY_SIZE]
                generation = int(line[11:16])
                if line[17:18] == b"n":
                    yield XRefEntry(XRefType.STANDARD, int(line[:10]), sub.first + i, generation)
                else:
                    yield XRefEntry(XRefType.FREE, None, sub.first + i, generation)

    @property
    def standard_xrefs(self) -> dict[int, tuple[int, int]]:  # type: ignore[override]
        return self._decoded().standard_xrefs

    @property
    def xrefs_in_objstm(self) -> dict[int, ObjStreamRef]:  # type: ignore[override]
        return self._decoded().xrefs_in_objstm

    @property
    def explicit_refs_in_revision(self) -> set[tuple[int, int]]:  # type: ignore[override]
        return self._decoded().explicit_refs_in_revision

    @property
    def obj_streams_used(self) -> set[int]:  # type: ignore[override]
        return self._decoded().obj_streams_used

    @property
    def freed(self) -> dict[int, int]:  # type: ignore[override]
        if self._full is not None:
            return self._full.freed
        # what process_entries would put there: the last free entry of each object but 0
        out: dict[int, int] = {}
        for sub in self._subsections:
            for i in _positions(sub.data[MARKER::ENTRY_SIZE], b"f"):
                if sub.first + i != 0:
                    out[sub.first + i] = _generation(sub.data, i)
        return out

    # -- lookups without decoding everything ------------------------------------------------------

    def _lookup(self, idnum: int) -> tuple[tuple[int, int] | None, int | None]:
        """(generation, offset) of the object's last in-use entry, and the generation of its last free
        entry: what ``standard_xrefs`` and ``freed`` would hold for it."""
        if idnum == 0:
            return None, None
        used: tuple[int, int] | None = None
        free: int | None = None
        for sub in self._subsections:
            i = idnum - sub.first
            if 0 <= i < sub.count:
                line = sub.data[i * ENTRY_SIZE:(i + 1) * ENTRY_SIZE]
                if line[17:18] == b"n":
                    used = (int(line[11:16]), int(line[:10]))
                else:
                    free = int(line[11:16])
        return used, free

    def try_resolve(self, ref: generic.Reference | generic.IndirectObject) -> int | ObjStreamRef | None:
        if self._full is not None:
            return self._full.try_resolve(ref)
        # pyHanko's try_resolve on the two entries that matter (a table has no object-stream entries)
        used, free = self._lookup(ref.idnum)
        if used is not None:
            if used[0] == ref.generation:
                return used[1]
            raise KeyError(ref)
        if free is not None and ref.generation == free - 1:
            return None
        raise KeyError(ref)

    def higher_generation_refs(self) -> Iterator[tuple[int, int]]:
        if self._full is not None:
            yield from self._full.higher_generation_refs()
            return
        seen: set[int] = set()
        for sub in self._subsections:
            for idnum in sorted({sub.first + i for i in _nonzero_generations(sub.data)}):
                if idnum in seen:
                    continue
                seen.add(idnum)
                used, _ = self._lookup(idnum)
                if used is not None and used[0] > 0:
                    yield idnum, used[0]


def _positions(column: bytes, byte: bytes) -> list[int]:
    """Indexes of ``byte`` in ``column`` (one byte per entry, taken with a stride: C speed)."""
    out, at = [], column.find(byte)
    while at != -1:
        out.append(at)
        at = column.find(byte, at + 1)
    return out


def _generation(data: bytes, i: int) -> int:
    return int(data[i * ENTRY_SIZE + GENERATION.start:i * ENTRY_SIZE + GENERATION.stop])


def _nonzero_generations(data: bytes) -> set[int]:
    """Entries whose generation is not 00000 (each digit column checked on its own)."""
    out: set[int] = set()
    for digit in range(GENERATION.start, GENERATION.stop):
        out.update(match.start() for match in _NOT_ZERO.finditer(data[digit::ENTRY_SIZE]))
    return out


def _scan_table(stream: IO[bytes]) -> tuple[list[_Subsection], int] | None:
    """The subsections of the table at the stream's position (after ``xref``), the stream left where
    pyHanko's parser leaves it (at the trailer dictionary); None when the table is not all standard
    20-byte entries (then pyHanko reads it)."""
    subsections: list[_Subsection] = []
    highest = 0
    while True:
        at = stream.tell()
        head = stream.read(_HEAD_WINDOW)
        match = _HEADER.match(head)
        if match is None or match.end() == len(head):
            return None
        first, count = int(match.group(1)), int(match.group(2))
        stream.seek(at + match.end())
        data = stream.read(count * ENTRY_SIZE)
        if len(data) != count * ENTRY_SIZE or not re.fullmatch(rb"(?:" + _ENTRY + rb"){%d}" % count, data):
            return None
        if any(_generation(data, i) > 0xFFFF for i in _nonzero_generations(data)):
            return None  # pyHanko skips such an entry, or refuses it in strict mode: it decides
        subsections.append(_Subsection(first, count, data))
        if count:
            highest = max(highest, first + count - 1)
        at = stream.tell()
        rest = stream.read(_HEAD_WINDOW)
        stripped = rest.lstrip(b" \n\r\t\f\x00")
        skipped = len(rest) - len(stripped)
        if stripped.startswith(b"trailer"):
            after = stripped[7:]
            body = after.lstrip(b" \n\r\t\f\x00")
            if not body:
                return None
            stream.seek(at + skipped + 7 + len(after) - len(body))
            return subsections, highest
        if not stripped[:1].isdigit():
            return None
        stream.seek(at)


class LazyXRefBuilder(XRefBuilder):
    """pyHanko's builder, keeping standard tables as bytes (:class:`LazyTableData`)."""

    def _read_xref_table(self, declared_startxref: int) -> Any:
        stream = self.stream
        xref_start = stream.tell()
        scanned = _scan_table(stream)
        if scanned is None:
            stream.seek(xref_start)
            return super()._read_xref_table(declared_startxref)
        subsections, highest = scanned
        xref_end = stream.tell()
        # from here on, pyHanko's _read_xref_table
        new_trailer = generic.DictionaryObject.read_from_stream(stream, generic.TrailerReference(self.handler))
        assert isinstance(new_trailer, generic.DictionaryObject)
        if "/XRefStm" in new_trailer:  # hybrid: pyHanko's own reading
            stream.seek(xref_start)
            return super()._read_xref_table(declared_startxref)
        declared_size = int(new_trailer.raw_get("/Size"))
        if self.strict and highest >= declared_size:
            raise misc.PdfStrictReadError(
                f"Xref table size mismatch: table allocated object with id {highest}, but according to the "
                f"trailer {declared_size - 1} is the maximal allowed object id.")
        meta = XRefSectionMetaInfo(
            xref_section_type=XRefSectionType.STANDARD, size=declared_size, declared_startxref=declared_startxref,
            start_location=xref_start, end_location=xref_end, stream_ref=None)
        self.sections.append(XRefSection(meta, LazyTableData(subsections, self.strict)))
        self.trailer.add_trailer_revision(new_trailer)
        return _prev(new_trailer)


class SigningReader(PdfFileReader):
    """pyHanko's reader with the cross-reference tables read by :class:`LazyXRefBuilder`."""

    def __init__(self, stream: IO[bytes], strict: bool = True) -> None:
        # pyHanko 0.38's PdfFileReader.__init__ and _read_xrefs_and_trailer, but for the builder
        self._security_handler = None
        self.strict = strict
        stream.seek(0, os.SEEK_END)
        self._decode_context = DecodeContext(DecodeLimits(), input_size=stream.tell())
        self.resolved_objects: dict[tuple[int, int], generic.PdfObject] = {}
        self._header_version = None
        self._input_version = None
        self._historical_resolver_cache: dict[int, Any] = {}
        self.stream = stream
        self._header_version = _read_header_version(stream)
        stream.seek(-1, os.SEEK_END)
        last_startxref = process_data_at_eof(stream)
        builder = LazyXRefBuilder(handler=self, stream=stream, strict=strict, last_startxref=last_startxref)
        self.xrefs = XRefCache(self, builder.read_xrefs())
        self.last_startxref = builder.last_startxref
        self.trailer = builder.trailer
        self.has_xref_stream = builder.has_xref_stream
        self._embedded_signatures = None

    def _read_object(self, ref: generic.Reference, marker: int | ObjStreamRef | None, never_decrypt: bool = False,
                     as_metadata_stream: bool = False) -> Any:
        if not isinstance(marker, int) or as_metadata_stream:
            return super()._read_object(ref, marker, never_decrypt, as_metadata_stream)
        # pyHanko 0.38's reading of an object at a file offset, its dictionary read by _read_dictionary
        stream = self.stream
        stream.seek(marker)
        idnum, generation = read_object_header(stream, strict=self.strict)
        if idnum != ref.idnum or generation != ref.generation:
            raise misc.PdfReadError(f"Expected object ID ({ref.idnum} {ref.generation}) does not match actual "
                                    f"({idnum} {generation}).")
        container = generic.Reference(idnum, generation, self)
        start = stream.tell()
        head = stream.read(2)
        stream.seek(start)
        retval = _read_dictionary(stream, container) if head == b"<<" else generic.read_object(stream, container)
        generic.read_non_whitespace(stream, seek_back=True)
        obj_data_end = stream.tell() - 1
        endobj = stream.read(6)
        if endobj != b"endobj":
            if self.strict:
                raise misc.PdfStrictReadError(f"Expected endobj marker at position {obj_data_end} but found "
                                              f"{endobj!r}")
        else:
            generic.read_non_whitespace(stream, seek_back=True)
        if not never_decrypt and self.encrypted:
            handler = self.security_handler
            assert handler is not None
            retval = generic.proxy_encrypted_obj(retval, handler)
        return retval


def _read_dictionary(stream: IO[bytes], container_ref: generic.Reference) -> generic.DictionaryObject:
    """pyHanko 0.38's DictionaryObject.read_from_stream (outside content streams), its values that are arrays
    of references read at once (:func:`docsign.verification.speedups.read_array_from_stream`, exact): the
    /Kids of a flat page tree holds thousands, which pyHanko reads a byte at a time."""
    from docsign.verification.speedups import read_array_from_stream

    tmp = stream.read(2)
    if tmp != b"<<":
        raise misc.PdfReadError(f"Dictionary read error at byte 0x{hex(stream.tell())}: stream must begin with '<<'")
    data: dict[generic.NameObject, generic.PdfObject] = {}
    handler = container_ref.get_pdf_handler()
    while True:
        tok = generic.read_non_whitespace(stream)
        if tok == b">":
            stream.read(1)
            break
        stream.seek(-1, os.SEEK_CUR)
        try:
            key = generic.NameObject.read_from_stream(stream)
        except Exception as ex:
            raise misc.PdfReadError(f"Failed to read dictionary key at byte 0x{hex(stream.tell())}; expected PDF "
                                    "name") from ex
        generic.read_non_whitespace(stream)
        stream.seek(-1, os.SEEK_CUR)
        if stream.read(1) == b"[":
            stream.seek(-1, os.SEEK_CUR)
            value = read_array_from_stream(stream, container_ref)
            value.container_ref = container_ref  # as pyHanko's read_object sets it
        else:
            stream.seek(-1, os.SEEK_CUR)
            value = generic.read_object(stream, container_ref)
        if key not in data:
            data[key] = value
        else:
            err = f"Multiple definitions in dictionary at byte {hex(stream.tell())} for key {key}"
            if handler.strict:
                raise misc.PdfStrictReadError(err)
            _generic_log.warning(err)
    stream_data = generic._maybe_read_stream_payload(stream, data, handler)
    result = generic.StreamObject(data, encoded_data=stream_data) if stream_data is not None \
        else generic.DictionaryObject(data)
    result.container_ref = container_ref
    return result


def reader_class() -> type[PdfFileReader]:
    """:class:`SigningReader` where it fits the installed pyHanko, else pyHanko's reader."""
    return SigningReader if supported() else PdfFileReader
