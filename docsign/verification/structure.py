"""Checks on the raw bytes that pyHanko, with its default settings, does not make.

They catch the published PDF signature attacks: universal signature forgery (missing or empty
/Contents, a /ByteRange that leaves out more than the signature value, overlaps or points outside
the file), signature wrapping (the /Contents the signature dictionary shows is not the one the
ByteRange leaves out), incremental saving attacks that append objects or cross-reference sections
outside the revision chain a strict reader follows, and CMS signed attributes that are not DER.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

PDF_MAGIC = b"%PDF-"
HEADER_WINDOW = 1024
_HEX = frozenset(string.hexdigits.encode() + b" \t\r\n\x0c")
_WHITESPACE = b" \t\r\n\x0c\x00"
_OBJECT_HEADER = re.compile(rb"(?:^|(?<=[\r\n]))[ \t]*(\d{1,10})[ \t\r\n]+(\d{1,5})[ \t\r\n]+obj\b")
_XREF_TABLE = re.compile(rb"(?:^|(?<=[\r\n]))xref[ \t]*[\r\n]")
_EOF_MARK = b"%%EOF"


def looks_like_pdf(data: bytes) -> bool:
    return PDF_MAGIC in data[:HEADER_WINDOW]


@dataclass(frozen=True)
class ByteRangeCheck:
    errors: tuple[str, ...]
    signed_end: int | None
    """Offset just after the signed bytes (end of the signed revision) when the ByteRange is usable."""


def check_byte_range(data: bytes, sig_obj: Any) -> ByteRangeCheck:
    """Does the ByteRange cover the whole signed revision except exactly the signature value?"""
    errors: list[str] = []
    contents = sig_obj.get("/Contents") if hasattr(sig_obj, "get") else None
    if contents is None:
        errors.append("The signature has no signature value (/Contents is missing).")
    elif not isinstance(contents, (bytes, str)) and not hasattr(contents, "original_bytes"):
        errors.append("The signature value (/Contents) is not a string.")
    else:
        value = _string_bytes(contents)
        if not value.rstrip(b"\x00"):
            errors.append("The signature value (/Contents) is empty.")
    byte_range = sig_obj.get("/ByteRange") if hasattr(sig_obj, "get") else None
    try:
        numbers = [int(x) for x in byte_range]  # type: ignore[union-attr]
        if len(numbers) != 4 or any(isinstance(x, bool) for x in byte_range):  # type: ignore[union-attr]
            raise ValueError
    except (TypeError, ValueError):
        errors.append("The signature has no usable /ByteRange (four whole numbers).")
        return ByteRangeCheck(tuple(errors), None)
    start1, len1, start2, len2 = numbers
    size = len(data)
    if min(numbers) < 0:
        errors.append("The /ByteRange contains negative numbers.")
        return ByteRangeCheck(tuple(errors), None)
    if start1 != 0:
        errors.append("The signed bytes do not start at the beginning of the file.")
    if start2 < start1 + len1:
        errors.append("The two signed byte ranges overlap.")
    if start1 + len1 > size or start2 + len2 > size:
        errors.append("The /ByteRange points outside the file.")
    if errors:
        return ByteRangeCheck(tuple(errors), None)
    gap = data[start1 + len1:start2]
    if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">" or not set(gap[1:-1]) <= _HEX:
        errors.append("The bytes left out of the signature are more than the signature value "
                      "(signature wrapping or universal signature forgery).")
        return ByteRangeCheck(tuple(errors), None)
    if contents is not None and not errors:
        try:
            gap_value = bytes.fromhex(gap[1:-1].decode("ascii"))
        except ValueError:
            gap_value = b""
        if gap_value.rstrip(b"\x00") != _string_bytes(contents).rstrip(b"\x00"):
            errors.append("The signature value in the signature dictionary is not the one the /ByteRange "
                          "leaves out (signature wrapping).")
    return ByteRangeCheck(tuple(errors), start2 + len2)


def _string_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    original = getattr(value, "original_bytes", None)
    if isinstance(original, bytes):
        return original
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    return bytes(value)


def unaccounted_updates(data: bytes, reader: Any, signed_end: int, signed_revision: int) -> list[str]:
    """Objects or xref sections written after the signed revision that the revision chain does not list.

    A strict reader (pyHanko) ignores them; a viewer that repairs the file may show them. Either way
    the document was changed after signing in a way no difference analysis saw.
    """
    problems: list[str] = []
    tail = data[signed_end:]
    if not tail.strip(_WHITESPACE):
        return problems
    xrefs = reader.xrefs
    known_objects: set[int] = set()
    known_xrefs: set[int] = set()
    for revision in range(signed_revision + 1, xrefs.total_revisions):
        info = xrefs.get_xref_container_info(revision)
        known_xrefs.update({info.start_location, info.declared_startxref})
        for ref in xrefs.explicit_refs_in_revision(revision):
            where = xrefs.get_historical_ref(ref, revision)
            if isinstance(where, int):
                known_objects.add(_skip_whitespace(data, where))
    for match in _OBJECT_HEADER.finditer(tail):
        offset = signed_end + match.start(1)
        if offset not in known_objects and offset not in known_xrefs:  # an xref stream need not list itself
            problems.append(f"Object {int(match.group(1))} {int(match.group(2))} was added after signing outside "
                            "any cross-reference section (incremental saving attack).")
            if len(problems) >= 5:
                break
    for match in _XREF_TABLE.finditer(tail):
        offset = signed_end + match.start()
        if offset not in known_xrefs and _skip_whitespace(data, offset) not in known_xrefs:
            problems.append("A cross-reference section was added after signing outside the document's revision "
                            "chain (incremental saving attack).")
            break
    last_eof = data.rfind(_EOF_MARK)
    if last_eof >= signed_end and data[last_eof + len(_EOF_MARK):].strip(_WHITESPACE):
        problems.append("Data was appended after the end of the last revision.")
    return problems


def _skip_whitespace(data: bytes, offset: int) -> int:
    while offset < len(data) and data[offset] in _WHITESPACE:
        offset += 1
    return offset


# -- DER ---------------------------------------------------------------------------------------
class _NotDer(Exception):
    pass


def is_der(encoded: bytes) -> bool:
    """True when ``encoded`` is one DER TLV: definite minimal lengths, sorted SET OF, no constructed strings."""
    try:
        end = _check_tlv(encoded, 0, depth=0)
    except (_NotDer, IndexError):
        return False
    return end == len(encoded)


_CONSTRUCTED_STRING_TAGS = frozenset({0x23, 0x24, 0x2C, 0x33, 0x34, 0x36, 0x3A})


def _check_tlv(data: bytes, pos: int, depth: int) -> int:
    if depth > 64:
        raise _NotDer
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:  # high tag number form
        while data[pos] & 0x80:
            pos += 1
        pos += 1
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise _NotDer  # indefinite length
    else:
        count = first & 0x7F
        raw = data[pos:pos + count]
        if len(raw) != count or raw[0] == 0:
            raise _NotDer
        length = int.from_bytes(raw, "big")
        if length < 0x80:
            raise _NotDer  # long form where the short one fits
        pos += count
    end = pos + length
    if end > len(data):
        raise _NotDer
    if tag in _CONSTRUCTED_STRING_TAGS:
        raise _NotDer
    if tag == 0x01 and (length != 1 or data[pos] not in (0x00, 0xFF)):
        raise _NotDer
    if tag & 0x20:  # constructed
        children = []
        child = pos
        while child < end:
            nxt = _check_tlv(data, child, depth + 1)
            children.append(data[child:nxt])
            child = nxt
        if child != end:
            raise _NotDer
        if tag == 0x31 and children != sorted(children):
            raise _NotDer
    return end


def signed_attributes_der(signer_info: Any) -> bool:
    """Are the CMS signed attributes, as signed (tagged SET), DER encoded?"""
    attrs = signer_info["signed_attrs"]
    if attrs is None or not getattr(attrs, "contents", None):
        return True
    encoded = attrs.dump()
    # the signature covers the attributes with the universal SET tag instead of [0] IMPLICIT
    return is_der(b"\x31" + encoded[1:])
