"""Drop-in replacements for hot spots of pyHanko 0.38's PDF and CMS reading, installed only on request.

Nothing here changes a library when it is imported. :func:`install` is called by the processes that
only verify (the sandbox workers of :mod:`docsign.verification.sandbox`, the one place the engine
runs for the web, the API, the CLI and the workers); it checks the installed pyHanko against the
versions these replacements were written and tested for (:data:`SUPPORTED_PYHANKO`) and, for any
other version, installs nothing and says so (:func:`startup_message`, logged by the web and worker
entry points at start-up): verification is then as correct as before, only slower. asn1crypto is
never touched (signing and name comparison get the library as shipped).

Each replacement is exact: same results, same exceptions, same stream positions; each keeps the
library's own function as the reference (and the fallback, where one is needed), and
``tests/unit/verification/test_speedups.py`` checks the equivalence.

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
* **Names.** Every dictionary key is a name (``/Type``, ``/ByteRange``...), which pyHanko reads a byte
  at a time through a generator and decodes a byte at a time: a tenth of a 1-page B-LT verification.
  :func:`read_name_from_stream` finds the name's end with one regular expression and, when the name
  is plain printable ASCII without ``#`` escapes, makes the same NameObject at once; any other name
  (escapes, bytes pyHanko refuses, one that runs to the end of what was read) goes to pyHanko's reader
  from the same position.
* **Certificates in a CMS bag.** Every document an agency seals carries the same seal and CA
  certificates, and pyHanko parses them afresh from each signature (and again for each use).
  :func:`extract_certificate_info` returns, for each certificate pyHanko extracted, the object this
  process already parsed from the same DER bytes (bounded LRU), so what asn1crypto and certvalidator
  derived from it once (names, keys, extensions) is reused. Same bytes, same certificate: the result
  differs from pyHanko's only in object identity.
* **DSS certificates.** pyHanko reads a document security store's certificates with
  ``Certificate.load`` and keys them by ``issuer_serial`` (a hash of the issuer name, computed anew for
  each parse): the same CA and responder certificates in every B-LT document. :class:`DssCertificates`
  stands for asn1crypto's ``Certificate`` in pyHanko's ``dss`` module (which only calls its ``load``)
  and gives this process's parse of the same DER bytes when there is one (the bounded LRU above),
  otherwise asn1crypto's fresh parse (raising as it does), then remembered.
* **Issuer and serial matches.** To find the signer's certificate in a CMS bag, and to check the
  signing-certificate attribute, pyHanko compares the issuer names of each candidate by RFC 5280 rules
  (asn1crypto's string preparation of every attribute, each time): about a sixth of a 1-page B-LT
  verification, comparing the same few CA names over and over. :func:`match_issuer_serial` is pyHanko's
  function with that comparison remembered per pair of DER encodings (bounded LRU); a comparison that
  raises is not remembered, so it raises (or, for ValueError, fails the match) as in pyHanko every time.
* **Signature checks.** A verification checks about nine signatures; all but the document's own and its
  timestamp's are the same every time (the CA's on the signer's and the TSA's certificates, the OCSP
  responder's on the same OCSP responses). :func:`validate_signature` is
  certvalidator's check with its successes remembered, keyed on every input's exact bytes (signature,
  signed bytes, public key, algorithm and context): a success for those bytes is a success again, and
  anything else (other bytes, a failure) is checked by certvalidator, so a bad signature raises every time.
* **ESS signing-certificate matches.** Checking that a signature's signing-certificate(-v2) attribute
  names the signer's certificate hashes and compares the same certificate for every document of a
  signer (five times per verification). :func:`check_ess_certid` is pyHanko's function with its answer
  (True or False; it has no other outcome) remembered per (certificate DER, ESSCertID type and DER).
"""

from __future__ import annotations

import binascii
import logging
import os
import re
import threading
from collections import OrderedDict
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import ContentOpReading
from pyhanko.pdf_utils.misc import PDF_WHITESPACE
from pyhanko.sign import general
from pyhanko.sign.validation import ades, dss, generic_cms
from pyhanko.version import __version__ as PYHANKO_VERSION
from pyhanko_certvalidator import sig_validate

PYHANKO_READ_HEX_STRING = generic.read_hex_string_from_stream
"""pyHanko's original reader (the reference, and the fallback)."""
PYHANKO_READ_ARRAY = generic.ArrayObject.read_from_stream
"""pyHanko's original array reader (a static method)."""
PYHANKO_READ_NAME = generic.NameObject.read_from_stream
"""pyHanko's original name reader (a static method)."""
PYHANKO_EXTRACT_CERTIFICATE_INFO = general.extract_certificate_info
"""pyHanko's extraction of a SignedData's certificates (signer's, others, attribute certificates)."""
PYHANKO_MATCH_ISSUER_SERIAL = general.match_issuer_serial
"""pyHanko's match of an IssuerAndSerialNumber / IssuerSerial against a certificate."""
PYHANKO_CHECK_ESS_CERTID = general.check_ess_certid
"""pyHanko's match of an ESSCertID(v2) against a certificate."""
CERTVALIDATOR_VALIDATE_SIGNATURE = sig_validate.DefaultSignatureValidator.validate_signature
"""certvalidator's signature check (the validator every ValidationContext uses by default)."""
CERTIFICATE_CACHE_SIZE = 1024
NAME_PAIRS_CACHE_SIZE = 4096
SIGNATURES_CACHE_SIZE = 1024
ESS_CACHE_SIZE = 1024
MAX_REMEMBERED_SIGNED_BYTES = 16 * 1024
"""Signed data longer than this (a big CRL) is checked every time: a memo key holds the exact bytes, so this
bounds the memo to about 16 MiB."""
_EXTRACTORS = (general, generic_cms, dss, ades)
"""The modules that call ``extract_certificate_info`` by a name of their own."""
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_FIRST_CHUNK = 512
_MAX_CHUNK = 1 << 20
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


_NAME_BODY = re.compile(rb"[^ \n\r\t\x0c\x00()<>\[\]{}/%]*")
"""What pyHanko reads as a name's body: up to the first PDF whitespace or delimiter."""
_PLAIN_NAME = re.compile(rb"[\x21\x22\x24\x26-\x27\x2a-\x2e\x30-\x3b\x3d\x3f-\x5a\x5c\x5e-\x7a\x7c\x7e]*")
"""Printable ASCII that is neither a delimiter nor ``#``: decoded by pyHanko to itself."""
_NAME_CHUNK = 128


def read_name_from_stream(stream: Any) -> Any:
    """Read ``/Name`` at the stream's position into a NameObject, as pyHanko does (stream left at the
    delimiter that ends it)."""
    start = stream.tell()
    chunk = stream.read(_NAME_CHUNK)
    if chunk[:1] == b"/":
        end = _NAME_BODY.match(chunk, 1).end()  # type: ignore[union-attr]
        if end < len(chunk) and _PLAIN_NAME.fullmatch(chunk, 1, end):
            stream.seek(start + end, os.SEEK_SET)
            return generic.NameObject(chunk[:end].decode("ascii"))
    stream.seek(start, os.SEEK_SET)
    return PYHANKO_READ_NAME(stream)


class _Lru:
    """A bounded map, the most recently used entries kept (thread safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Any, value: Any) -> Any:
        """Store ``value`` unless ``key`` is there already; return what is stored."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class _Certificates(_Lru):
    """Parsed certificates by DER encoding."""

    def interned(self, cert: Any) -> Any:
        return self.put(cert.dump(), cert)


CERTIFICATES = _Certificates(CERTIFICATE_CACHE_SIZE)


class DssCertificates:
    """asn1crypto's ``Certificate`` as pyHanko's ``dss`` module uses it (``Certificate.load`` only),
    answered from :data:`CERTIFICATES` for bytes parsed before."""

    @staticmethod
    def load(encoded_data: bytes, strict: bool = False) -> Any:
        found = CERTIFICATES.get(encoded_data)
        if found is not None:
            return found
        return CERTIFICATES.interned(x509.Certificate.load(encoded_data, strict=strict))


def extract_certificate_info(signed_data: Any) -> Any:
    """pyHanko's certificate extraction, each certificate replaced by this process's parse of the same bytes."""
    info = PYHANKO_EXTRACT_CERTIFICATE_INFO(signed_data)
    return general.SignedDataCerts(signer_cert=CERTIFICATES.interned(info.signer_cert),
                                   other_certs=[CERTIFICATES.interned(c) for c in info.other_certs],
                                   attribute_certs=info.attribute_certs)


NAME_PAIRS = _Lru(NAME_PAIRS_CACHE_SIZE)
"""(DER of one name, DER of another) -> whether RFC 5280 comparison finds them equal."""


def _names_equal(expected: Any, actual: Any) -> bool:
    """``expected == actual`` for two x509 Names as pyHanko decides it: DER first, then asn1crypto's
    RFC 5280 comparison (remembered), a name that cannot be compared (ValueError) matching nothing."""
    try:
        expected_der, actual_der = expected.dump(), actual.dump()
        if expected_der == actual_der:
            return True
        known = NAME_PAIRS.get((expected_der, actual_der))
        if known is not None:
            return bool(known)
        return bool(NAME_PAIRS.put((expected_der, actual_der), expected == actual))
    except ValueError:
        return False


def match_issuer_serial(expected_issuer_serial: Any, cert: Any) -> bool:
    """pyHanko's ``match_issuer_serial`` (same steps, same order), the name comparison remembered."""
    serial_asn1 = cert["tbs_certificate"]["serial_number"]
    expected_issuer = expected_issuer_serial["issuer"]
    if isinstance(expected_issuer, x509.GeneralNames):  # IssuerSerial of an ESSCertID
        if len(expected_issuer) != 1 or expected_issuer[0].name != "directory_name":
            return False
        expected_issuer = expected_issuer[0].chosen
    issuer_match = _names_equal(expected_issuer, cert.issuer)
    return issuer_match and expected_issuer_serial["serial_number"] == serial_asn1  # type: ignore[no-any-return]


VALID_SIGNATURES = _Lru(SIGNATURES_CACHE_SIZE)
"""(signature, signed bytes, public key DER, algorithm DER, context) -> True, for checks that passed."""


def _signature_key(signature: Any, signed_data: Any, public_key_info: Any, signature_algorithm: Any,
                   context: Any) -> tuple[Any, ...] | None:
    if len(signed_data) > MAX_REMEMBERED_SIGNED_BYTES:
        return None
    return (bytes(signature), bytes(signed_data), public_key_info.dump(), signature_algorithm.dump(),
            context.contextual_md_algorithm, context.prehashed)


def validate_signature(validator: Any, signature: Any, signed_data: Any, public_key_info: Any,
                       signature_algorithm: Any, context: Any = sig_validate.DEFAULT_VALIDATION_CONTEXT) -> None:
    """certvalidator's ``DefaultSignatureValidator.validate_signature`` (a method), successes remembered."""
    key = _signature_key(signature, signed_data, public_key_info, signature_algorithm, context)
    if key is not None and VALID_SIGNATURES.get(key):
        return
    CERTVALIDATOR_VALIDATE_SIGNATURE(validator, signature, signed_data, public_key_info, signature_algorithm, context)
    if key is not None:  # only reached when the check passed (a failure raises)
        VALID_SIGNATURES.put(key, True)


ESS_MATCHES = _Lru(ESS_CACHE_SIZE)
"""(certificate DER, ESSCertID class, ESSCertID DER) -> whether pyHanko's check_ess_certid matched."""


def check_ess_certid(cert: Any, certid: Any) -> bool:
    """pyHanko's ``check_ess_certid``, its answer remembered for these exact bytes."""
    key = (cert.dump(), type(certid), certid.dump())
    known = ESS_MATCHES.get(key)
    if known is not None:
        return bool(known)
    return bool(ESS_MATCHES.put(key, bool(PYHANKO_CHECK_ESS_CERTID(cert, certid))))


SUPPORTED_PYHANKO = ("0.38.",)
"""pyHanko versions (prefixes) whose reading functions these replacements reproduce exactly."""
_INSTALLED = False


def supported(version: str | None = None) -> bool:
    """Whether the replacements were written and tested for this pyHanko (default: the installed one)."""
    return (version or PYHANKO_VERSION).startswith(SUPPORTED_PYHANKO)


def startup_message(version: str | None = None) -> str | None:
    """None when the speedups fit the installed pyHanko; otherwise the message for the operator."""
    version = version or PYHANKO_VERSION
    if supported(version):
        return None
    wanted = ", ".join(v.rstrip(".") for v in SUPPORTED_PYHANKO)
    return (f"docsign's verification speedups are for pyHanko {wanted}; pyHanko {version} is installed, so they "
            "are not used: verification stays correct but is slower. Update docsign to get them back.")


def log_startup_check(logger: logging.Logger | None = None) -> bool:
    """Log :func:`startup_message` (web and worker start-up); True when the speedups will be used."""
    message = startup_message()
    if message is not None:
        (logger or logging.getLogger(__name__)).warning(message)
    return message is None


def install(version: str | None = None) -> bool:
    """Use the replacements in this process (idempotent); only when pyHanko is a supported version.
    Called by processes that do nothing but verify (sandbox workers)."""
    global _INSTALLED
    if not supported(version):
        return False
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    generic.ArrayObject.read_from_stream = staticmethod(read_array_from_stream)  # type: ignore[method-assign]
    generic.NameObject.read_from_stream = staticmethod(read_name_from_stream)  # type: ignore[method-assign]
    for module in _EXTRACTORS:
        module.extract_certificate_info = extract_certificate_info  # type: ignore[attr-defined]
    general.match_issuer_serial = match_issuer_serial  # its callers (signer lookup, ESS cert id) are in general
    general.check_ess_certid = generic_cms.check_ess_certid = check_ess_certid
    dss.Certificate = DssCertificates  # type: ignore[attr-defined]
    sig_validate.DefaultSignatureValidator.validate_signature = validate_signature  # type: ignore[method-assign]
    _INSTALLED = True
    return True


def installed() -> bool:
    return _INSTALLED


def uninstall() -> None:
    """Put pyHanko's own functions back."""
    global _INSTALLED
    generic.read_hex_string_from_stream = PYHANKO_READ_HEX_STRING
    generic.ArrayObject.read_from_stream = staticmethod(PYHANKO_READ_ARRAY)  # type: ignore[method-assign]
    generic.NameObject.read_from_stream = staticmethod(PYHANKO_READ_NAME)  # type: ignore[method-assign]
    for module in _EXTRACTORS:
        module.extract_certificate_info = PYHANKO_EXTRACT_CERTIFICATE_INFO  # type: ignore[attr-defined]
    general.match_issuer_serial = PYHANKO_MATCH_ISSUER_SERIAL
    general.check_ess_certid = generic_cms.check_ess_certid = PYHANKO_CHECK_ESS_CERTID
    dss.Certificate = x509.Certificate  # type: ignore[attr-defined]
    sig_validate.DefaultSignatureValidator.validate_signature = (  # type: ignore[method-assign]
        CERTVALIDATOR_VALIDATE_SIGNATURE)
    _INSTALLED = False
