"""Parsed certificates, OCSP responses and CRLs, cached by the SHA-256 of their DER bytes.

The same few objects come back in document after document (a CA's certificate, the OCSP response
for the issuing CA, the trust roots), and asn1crypto memoises what pyHanko computes from them
(names prepared for comparison, key identifiers, issuer/serial) on the parsed object. Keeping the
parsed object per process makes those computations happen once instead of once per verification.
The key is the exact bytes, so a cached object is the one parsing these bytes again would give;
nothing about a verification's outcome (time, revocation freshness, trust) is cached here.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509

T = TypeVar("T")
MAX_ITEMS = 1024
_MISSING = object()


class ParsedCache:
    """A bounded LRU map from (kind, sha256 of DER) to the parsed object, or None for garbage."""

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kind: str, der: bytes, parse: Callable[[bytes], T | None]) -> T | None:
        key = (kind, hashlib.sha256(der).digest())
        with self._lock:
            value = self._items.get(key, _MISSING)
            if value is not _MISSING:
                self._items.move_to_end(key)
                return value  # type: ignore[no-any-return]
        value = parse(der)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


PARSED = ParsedCache()


def _checked(load: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """Parse completely now (``.native``), so garbage is None here and not an exception later."""

    def parse(der: bytes) -> Any:
        try:
            value = load(der)
            value.native  # noqa: B018
        except Exception:
            return None
        return value

    return parse


_parse_ocsp = _checked(asn1_ocsp.OCSPResponse.load)
_parse_crl = _checked(asn1_crl.CertificateList.load)


def certificate(der: bytes) -> asn1_x509.Certificate:
    """The certificate in ``der`` (parsed lazily, as ``Certificate.load``; raises on a bad header)."""
    value = PARSED.get("cert", der, _load_certificate)
    if value is None:
        raise ValueError("not a certificate")
    return value


def _load_certificate(der: bytes) -> asn1_x509.Certificate | None:
    try:
        return asn1_x509.Certificate.load(der)
    except Exception:
        return None


def ocsp_response(der: bytes) -> asn1_ocsp.OCSPResponse | None:
    """The OCSP response in ``der``, or None when it does not parse completely."""
    return PARSED.get("ocsp", der, _parse_ocsp)


def crl(der: bytes) -> asn1_crl.CertificateList | None:
    """The CRL in ``der``, or None when it does not parse completely."""
    return PARSED.get("crl", der, _parse_crl)
