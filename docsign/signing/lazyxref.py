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

import io
import logging
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodeContext, DecodeLimits, DecodePurpose
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
    _expected_xref_stream_size,
    _prev,
    parse_xref_stream,
    read_object_header,
)
from pyhanko.version import __version__ as PYHANKO_VERSION

_generic_log = logging.getLogger(generic.__name__)  # where pyHanko logs what it reads
_reader_log = logging.getLogger(PdfFileReader.__module__)
SUPPORTED_PYHANKO = ("0.38.",)
"""pyHanko releases (prefixes) whose reader constructor :class:`SigningReader` reproduces."""

_WS = rb"[ \n\r\t\f\x00]"
_HEADER = re.compile(_WS + rb"*(\d+)" + _WS + rb"+(\d+)" + _WS + rb"*")
_ENTRY = rb"\d{10} \d{5} [nf](?: \r| \n|\r\n)"
ENTRY_SIZE = 20
_NOT_ZERO = re.compile(rb"[^0]")
_NOT_NUL = re.compile(rb"[^\x00]")
MARKER, GENERATION = 17, slice(11, 16)
"""Where an entry's marker byte and generation digits are."""
_HEAD_WINDOW = 64


def supported(version: str | None = None) -> bool:
    return (version or PYHANKO_VERSION).startswith(SUPPORTED_PYHANKO)


class _Subsection:
    __slots__ = ("count", "data", "first")

    def __init__(self, first: int, count: int, data: bytes) -> None:
        self.first, self.count, self.data = first, count, data


_Found = tuple[ObjStreamRef | None, tuple[int, int] | None, int | None]
"""An object's last entry in an object stream, last in-use entry (generation, offset) and the next generation
of its last free entry: what pyHanko's ``xrefs_in_objstm``, ``standard_xrefs`` and ``freed`` hold for it."""


class _LazySection(XRefSectionData):
    """A section's entries kept as fixed-size rows, decoded one at a time; pyHanko's dictionaries are built
    (by pyHanko's own ``process_entries``) only when something reads them."""

    def __init__(self, strict: bool) -> None:
        # no super().__init__(): its dictionaries are the properties below, filled on first use
        self._strict = strict
        self._full: XRefSectionData | None = None
        self.hybrid = None

    def _entries(self) -> Iterator[XRefEntry]:
        raise NotImplementedError

    def _lookup(self, idnum: int) -> _Found:
        raise NotImplementedError

    def _freed(self) -> dict[int, int]:
        raise NotImplementedError

    def _higher_generation_candidates(self) -> set[int]:
        raise NotImplementedError

    def _decoded(self) -> XRefSectionData:
        if self._full is None:
            full = XRefSectionData()
            full.process_entries(self._entries(), strict=self._strict)
            self._full = full
        return self._full

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
        return self._full.freed if self._full is not None else self._freed()

    def try_resolve(self, ref: generic.Reference | generic.IndirectObject) -> int | ObjStreamRef | None:
        if self._full is not None:
            return self._full.try_resolve(ref)
        # pyHanko's try_resolve, on this object's entries only
        objstm, used, free = self._lookup(ref.idnum) if ref.idnum != 0 else (None, None, None)
        if ref.generation == 0 and objstm is not None:
            return objstm
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
        for idnum in sorted(self._higher_generation_candidates() - {0}):
            _, used, _ = self._lookup(idnum)
            if used is not None and used[0] > 0:
                yield idnum, used[0]


class LazyTableData(_LazySection):
    """One classic table's entries, as its 20-byte lines."""

    def __init__(self, subsections: list[_Subsection], strict: bool) -> None:
        super().__init__(strict)
        self._subsections = subsections

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

    def _lookup(self, idnum: int) -> _Found:
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
        return None, used, free

    def _freed(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for sub in self._subsections:
            for i in _positions(sub.data[MARKER::ENTRY_SIZE], b"f"):
                if sub.first + i != 0:
                    out[sub.first + i] = _generation(sub.data, i)
        return out

    def _higher_generation_candidates(self) -> set[int]:
        return {sub.first + i for sub in self._subsections for i in _nonzero_generations(sub.data)}


class LazyStreamData(_LazySection):
    """One cross-reference stream's entries, as its decoded rows (``/W`` bytes each)."""

    def __init__(self, xref_stream: generic.StreamObject, widths: tuple[int, int, int],
                 subsections: list[_Subsection], strict: bool) -> None:
        super().__init__(strict)
        self._stream = xref_stream
        self._widths = widths
        self._row = sum(widths)
        self._subsections = subsections

    def _entries(self) -> Iterator[XRefEntry]:
        return parse_xref_stream(self._stream, strict=self._strict)  # its data is decoded (and kept) already

    def _fields(self, data: bytes, i: int) -> tuple[int, int, int]:
        w0, w1, w2 = self._widths
        at = i * self._row
        return (int.from_bytes(data[at:at + w0], "big") if w0 else 1,
                int.from_bytes(data[at + w0:at + w0 + w1], "big") if w1 else 0,
                int.from_bytes(data[at + w0 + w1:at + self._row], "big") if w2 else 0)

    def _lookup(self, idnum: int) -> _Found:
        objstm: ObjStreamRef | None = None
        used: tuple[int, int] | None = None
        free: int | None = None
        for sub in self._subsections:
            i = idnum - sub.first
            if 0 <= i < sub.count:
                kind, second, third = self._fields(sub.data, i)
                if kind == 1:
                    used = (third, second)
                elif kind == 2:
                    objstm = ObjStreamRef(second, third)
                elif kind == 0:
                    free = third
        return objstm, used, free

    def _freed(self) -> dict[int, int]:
        if self._widths[0] == 0:
            return {}  # every entry is of type 1
        if self._widths[0] > 1:
            return self._decoded().freed
        out: dict[int, int] = {}
        for sub in self._subsections:
            for i in _positions(sub.data[0::self._row], b"\x00"):
                if sub.first + i != 0:
                    out[sub.first + i] = self._fields(sub.data, i)[2]
        return out

    def _higher_generation_candidates(self) -> set[int]:
        w0, w1, w2 = self._widths
        if w0 > 1:
            return {idnum for idnum, _ in self._decoded().higher_generation_refs()}
        out: set[int] = set()
        for sub in self._subsections:
            nonzero: set[int] = set()
            for column in range(w0 + w1, w0 + w1 + w2):
                nonzero.update(m.start() for m in _NOT_NUL.finditer(sub.data[column::self._row]))
            if w0 == 1 and nonzero:  # only in-use entries (type 1) have a generation there
                nonzero &= set(_positions(sub.data[0::self._row], b"\x01"))
            out.update(sub.first + i for i in nonzero)
        return out


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


    def _read_xref_stream(self, declared_startxref: int) -> Any:
        # pyHanko's _read_xref_stream, with the entries left in the decoded stream when they have the usual form
        stream = self.stream
        start_location = stream.tell()
        xrefstream_ref, xrefstream = self._read_xref_stream_object()
        layout = _stream_layout(xrefstream)
        data: XRefSectionData
        if layout is not None:
            widths, pairs = layout
            raw = xrefstream.read_data(DecodePurpose.XREF_STREAM, expected_size=_expected_xref_stream_size(
                [n for pair in pairs for n in pair], list(widths)))
            row = sum(widths)
            if len(raw) == row * sum(count for _, count in pairs):
                subsections, at = [], 0
                for first, count in pairs:
                    subsections.append(_Subsection(first, count, raw[at:at + row * count]))
                    at += row * count
                data = LazyStreamData(xrefstream, widths, subsections, self.strict)
            else:
                layout = None
        if layout is None:  # anything unusual: pyHanko's own parsing (and its errors)
            data = XRefSectionData()
            data.process_entries(parse_xref_stream(xrefstream, strict=self.strict), strict=self.strict)
        meta = XRefSectionMetaInfo(
            xref_section_type=XRefSectionType.STREAM, size=int(xrefstream.raw_get("/Size")),
            declared_startxref=declared_startxref, start_location=start_location, end_location=stream.tell(),
            stream_ref=xrefstream_ref)
        self.sections.append(XRefSection(meta, data))
        self.trailer.add_trailer_revision(xrefstream)
        return _prev(xrefstream)


def _stream_layout(xrefstream: generic.StreamObject) -> tuple[tuple[int, int, int], list[tuple[int, int]]] | None:
    """/W and the /Index subsections of an xref stream when they are plain (three widths of at most 7 bytes,
    generations of at most 2, subsections in increasing order), else None."""
    try:
        widths = tuple(int(w) for w in xrefstream.get("/W"))
        index = [int(n) for n in xrefstream.get("/Index", [0, xrefstream.get("/Size")])]
    except (TypeError, ValueError, KeyError):
        return None
    if len(widths) != 3 or not all(0 <= w <= 7 for w in widths) or widths[2] > 2 or len(index) % 2:
        return None
    pairs = list(zip(index[0::2], index[1::2], strict=True))
    last_end = 0
    for first, count in pairs:
        if first < last_end or count < 0:
            return None
        last_end = first + count
    return widths, pairs  # type: ignore[return-value]


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


    def _get_object_from_stream(self, idnum: int, stmnum: int, idx: int) -> Any:
        # pyHanko 0.38's, with a dictionary read by _read_dictionary (a /Kids in an object stream)
        stream = generic.Reference(stmnum, 0, self).get_object()
        assert isinstance(stream, generic.StreamObject)
        assert stream["/Type"] == "/ObjStm"
        if not (0 <= idx < stream["/N"]):
            if self.strict:
                raise misc.PdfStrictReadError("Object stream does not contain index")
            return generic.NullObject()
        stream_data = io.BytesIO(stream.read_data(DecodePurpose.OBJECT_STREAM))
        first_object = stream["/First"]
        for i in range(stream["/N"]):
            try:
                misc.read_non_whitespace(stream_data, seek_back=True)
                objnum = generic.NumberObject.read_from_stream(stream_data)
                misc.read_non_whitespace(stream_data, seek_back=True)
                offset = generic.NumberObject.read_from_stream(stream_data)
                misc.read_non_whitespace(stream_data, seek_back=True)
            except ValueError:
                if self.strict:
                    raise misc.PdfStrictReadError("Object stream header possibly corrupted") from None
                return generic.NullObject()
            if objnum != idnum:
                continue
            if self.strict and idx != i:
                raise misc.PdfStrictReadError("Object is in wrong index.")
            stream_data.seek(first_object + offset)
            try:
                container = generic.Reference(idnum, 0, self)
                head = stream_data.read(2)
                stream_data.seek(-len(head), os.SEEK_CUR)
                obj = _read_dictionary(stream_data, container) if head == b"<<" \
                    else generic.read_object(stream_data, container)
            except (misc.PdfStreamError, misc.PdfReadError) as e:
                _reader_log.warning(f"Invalid stream (index {i}) within object {idnum} 0: {e}")
                if self.strict:
                    raise misc.PdfStrictReadError(f"Can't read object stream: {e}") from e
                obj = generic.NullObject()
            if isinstance(obj, (generic.StreamObject, generic.IndirectObject)):
                if self.strict:
                    raise misc.PdfStrictReadError("Encountered forbidden object type in object stream")
                return obj
            generic.read_non_whitespace(stream_data, seek_back=True, allow_eof=True)
            return obj
        if self.strict:
            raise misc.PdfStrictReadError("Object not found in stream, this is a fatal error in strict mode")
        return generic.NullObject()


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
