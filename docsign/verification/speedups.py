"""Drop-in replacements for hot spots of pyHanko 0.38 and asn1crypto 1.5 that verification hits.

Each is exact: same results, same exceptions, same stream positions; each keeps the library's own
function as the reference (and the fallback, where one is needed), and
``tests/unit/verification/test_speedups.py`` checks the equivalence. :func:`install` is called when
:mod:`docsign.verification.engine` is imported and only changes this process.

* **Hex strings.** A PAdES signature value is a hex string of 20-60 kB in the signature dictionary;
  pyHanko reads it with two Python function calls per character, which was a third of a 1-page
  B-LT verification. :func:`read_hex_string_from_stream` reads up to the closing ``>`` at once and
  decodes with :func:`binascii.unhexlify` when the string holds only hex digits and PDF whitespace;
  anything else (a comment, an invalid byte, no closing ``>``) goes to pyHanko's reader from the
  same position.
* **Arrays of references.** A page tree's ``/Kids`` is an array of thousands of ``N G R``; pyHanko
  parses each reference a byte at a time. :func:`read_array_from_stream` reads an array that holds
  only references (each short enough for pyHanko's 20-byte look-ahead) with one regular expression;
  any other array goes to pyHanko's reader from the same position.
* **Name comparison.** RFC 5280 name comparison runs RFC 4518 string preparation on every attribute
  value of every freshly parsed certificate (the signer's, the CMS bag's, the OCSP responder's, the
  trust roots' registry); it is a pure function of the string, so its results are memoised
  (bounded LRU). Values that fail preparation raise every time, as before.
* **Whole names.** pyHanko matches a CMS signer's issuer and serial against every certificate in the
  bag, and certvalidator keys its registries by ``Name.hashable``: each re-walks the parsed name. Both
  are functions of the name's RDN sequence alone (asn1crypto compares and hashes ``name.chosen``), a
  pure function of its encoding (``dump()``, which re-encodes a mutated sequence; the encoding leaves
  out the explicit tag a name carries inside a GeneralName), so
  :func:`name_eq` and :func:`name_hashable` memoise them by encoding (bounded LRU). A name read from
  BER keeps its bytes, and the memo parses those same bytes again.
* **Certificates in a CMS bag.** Every document an agency seals carries the same seal and CA
  certificates, and pyHanko parses them afresh from each signature (and again for each use).
  :func:`extract_certificate_info` returns, for each certificate pyHanko extracted, the object this
  process already parsed from the same DER bytes (bounded LRU), so what asn1crypto and certvalidator
  derived from it once (names, keys, extensions) is reused. Same bytes, same certificate: the result
  differs from pyHanko's only in object identity.
"""

from __future__ import annotations

import binascii
import functools
import os
import re
import threading
from collections import OrderedDict
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import ContentOpReading
from pyhanko.pdf_utils.misc import PDF_WHITESPACE
from pyhanko.sign import general
from pyhanko.sign.validation import ades, dss, generic_cms

PYHANKO_READ_HEX_STRING = generic.read_hex_string_from_stream
"""pyHanko's original reader (the reference, and the fallback)."""
PYHANKO_READ_ARRAY = generic.ArrayObject.read_from_stream
"""pyHanko's original array reader (a static method)."""
ASN1CRYPTO_STRING_PREP = asn1_x509.NameTypeAndValue._ldap_string_prep
"""asn1crypto's original RFC 4518 preparation (an instance method that does not use ``self``)."""
ASN1CRYPTO_NAME_EQ = asn1_x509.Name.__eq__
"""asn1crypto's RFC 5280 name comparison."""
ASN1CRYPTO_NAME_HASHABLE = asn1_x509.Name.hashable.fget
"""asn1crypto's ``Name.hashable`` (the property's getter)."""
NAME_CACHE_SIZE = 4096
PYHANKO_EXTRACT_CERTIFICATE_INFO = general.extract_certificate_info
"""pyHanko's extraction of a SignedData's certificates (signer's, others, attribute certificates)."""
CERTIFICATE_CACHE_SIZE = 1024
_EXTRACTORS = (general, generic_cms, dss, ades)
"""The modules that call ``extract_certificate_info`` by a name of their own."""
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_FIRST_CHUNK = 512
_MAX_CHUNK = 1 << 20
STRING_PREP_CACHE_SIZE = 8192
_NO_CONTENT = ContentOpReading.NO


def read_hex_string_from_stream(stream: Any) -> Any:
    """Read ``<...>`` at the stream's position into a PDF string object, as pyHanko does."""
    start = stream.tell()
    stream.read(1)  # "<"
    parts: list[bytes] = []
    size = _FIRST_CHUNK
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
        end = chunk.find(b">")
        if end != -1:
            parts.append(chunk[:end])
            body = b"".join(parts)
            digits = body.translate(None, PDF_WHITESPACE)
            if digits.translate(None, _HEX_DIGITS):
                break  # a comment or an invalid byte: pyHanko decides
            stream.seek(start + 1 + len(body) + 1, os.SEEK_SET)
            if len(digits) % 2:
                digits += b"0"
            return generic.pdf_string(binascii.unhexlify(digits))
        parts.append(chunk)
        size = min(size * 4, _MAX_CHUNK)
    stream.seek(start, os.SEEK_SET)
    return PYHANKO_READ_HEX_STRING(stream)


_SPACE = rb"[ \t\r\n\x0c]"
_REF = re.compile(rb"(\d+)" + _SPACE + rb"+(\d+)" + _SPACE + rb"+R")
_REF_ARRAY = re.compile(rb"\[" + _SPACE + rb"*(?:\d+" + _SPACE + rb"+\d+" + _SPACE + rb"+R" + _SPACE + rb"*)*\]")
_LOOKAHEAD = 20
"""pyHanko recognises ``N G R`` only when it ends (with the byte after ``R``) within 20 bytes."""


def read_array_from_stream(stream: Any, container_ref: Any, in_content_stream: Any = _NO_CONTENT) -> Any:
    """Read ``[...]`` at the stream's position into an ArrayObject, as pyHanko does."""
    start = stream.tell()
    parts: list[bytes] = []
    size = _FIRST_CHUNK
    while not in_content_stream:  # in a content stream "4 0 R" is not a reference: pyHanko decides
        chunk = stream.read(size)
        if not chunk:
            break
        if not parts:
            head = chunk[1:].lstrip(b" \t\r\n\x0c")
            if head[:1] not in (b"]", b"") and not head[:1].isdigit():
                break  # not references: pyHanko decides
        end = chunk.find(b"]")
        if end != -1:
            parts.append(chunk[:end + 1])
            text = b"".join(parts)
            result = _references(text, container_ref) if _REF_ARRAY.fullmatch(text) else None
            if result is None:
                break
            stream.seek(start + len(text), os.SEEK_SET)
            return result
        parts.append(chunk)
        size = min(size * 4, _MAX_CHUNK)
    stream.seek(start, os.SEEK_SET)
    return PYHANKO_READ_ARRAY(stream, container_ref, in_content_stream=in_content_stream)


def _references(text: bytes, container_ref: Any) -> Any:
    array = generic.ArrayObject()
    if not _REF.search(text):
        return array
    handler = container_ref.get_pdf_handler()
    for match in _REF.finditer(text):
        idnum, generation = int(match.group(1)), int(match.group(2))
        if match.end() + 1 - match.start() > _LOOKAHEAD or idnum <= 0:
            return None  # pyHanko would read numbers here, or refuse the reference
        reference = generic.IndirectObject(idnum, generation, handler)
        reference.container_ref = container_ref  # as pyHanko's read_object sets it on what it reads
        array.append(reference)
    return array


@functools.lru_cache(maxsize=STRING_PREP_CACHE_SIZE)
def _prepared(string: str) -> str:
    return ASN1CRYPTO_STRING_PREP(None, string)  # type: ignore[no-any-return]


def ldap_string_prep(self: Any, string: Any) -> Any:
    """RFC 4518 string preparation of an X.509 attribute value, memoised by value."""
    if type(string) is not str:
        return ASN1CRYPTO_STRING_PREP(self, string)
    return _prepared(string)


@functools.lru_cache(maxsize=NAME_CACHE_SIZE)
def _names_equal(first: bytes, second: bytes) -> bool:
    return asn1_x509.RDNSequence.load(first) == asn1_x509.RDNSequence.load(second)  # as Name.__eq__ does


@functools.lru_cache(maxsize=NAME_CACHE_SIZE)
def _hashable(encoding: bytes) -> str:
    return asn1_x509.RDNSequence.load(encoding).hashable  # type: ignore[no-any-return]


def name_eq(self: Any, other: Any) -> Any:
    """RFC 5280 equality of two X.509 names, memoised by their encodings."""
    if not isinstance(other, asn1_x509.Name):
        return False
    return _names_equal(self.chosen.dump(), other.chosen.dump())


def name_hashable(self: Any) -> Any:
    """``Name.hashable``, memoised by the name's encoding."""
    return _hashable(self.chosen.dump())


class _Certificates:
    """Parsed certificates by DER encoding, the most recently used kept (thread safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def interned(self, cert: Any) -> Any:
        key = cert.dump()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
            self._items[key] = cert
            if len(self._items) > self.size:
                self._items.popitem(last=False)
            return cert


CERTIFICATES = _Certificates(CERTIFICATE_CACHE_SIZE)


def extract_certificate_info(signed_data: Any) -> Any:
    """pyHanko's certificate extraction, each certificate replaced by this process's parse of the same bytes."""
    info = PYHANKO_EXTRACT_CERTIFICATE_INFO(signed_data)
    return general.SignedDataCerts(signer_cert=CERTIFICATES.interned(info.signer_cert),
                                   other_certs=[CERTIFICATES.interned(c) for c in info.other_certs],
                                   attribute_certs=info.attribute_certs)


def install() -> None:
    """Use the replacements in this process (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    generic.ArrayObject.read_from_stream = staticmethod(read_array_from_stream)  # type: ignore[method-assign]
    asn1_x509.NameTypeAndValue._ldap_string_prep = ldap_string_prep  # type: ignore[method-assign]
    asn1_x509.Name.__eq__ = name_eq  # type: ignore[method-assign,assignment]
    asn1_x509.Name.hashable = property(name_hashable)  # type: ignore[method-assign,assignment]
    for module in _EXTRACTORS:
        module.extract_certificate_info = extract_certificate_info  # type: ignore[attr-defined]


def uninstall() -> None:
    """Put the libraries' own functions back (to measure them as shipped)."""
    generic.read_hex_string_from_stream = PYHANKO_READ_HEX_STRING
    generic.ArrayObject.read_from_stream = staticmethod(PYHANKO_READ_ARRAY)  # type: ignore[method-assign]
    asn1_x509.NameTypeAndValue._ldap_string_prep = ASN1CRYPTO_STRING_PREP  # type: ignore[method-assign]
    asn1_x509.Name.__eq__ = ASN1CRYPTO_NAME_EQ  # type: ignore[method-assign]
    asn1_x509.Name.hashable = property(ASN1CRYPTO_NAME_HASHABLE)  # type: ignore[method-assign,assignment]
    for module in _EXTRACTORS:
        module.extract_certificate_info = PYHANKO_EXTRACT_CERTIFICATE_INFO  # type: ignore[attr-defined]
