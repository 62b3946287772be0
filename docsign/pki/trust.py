"""The trust store and the one place that builds a pyHanko ValidationContext.

Trust anchors are the demo PKI's roots (when the demo PKI exists) plus the certificates an admin
imports into ``<data dir>/trust/`` (one DER file per anchor, named by its SHA-256 fingerprint).
:func:`default_trust_store` is the store every face uses.

Revocation data: what the document embeds (DSS, CMS attributes) comes first, then what this
process fetched recently (:data:`REVOCATION_CACHE`), then, unless offline, OCSP/CRL fetched online
with short timeouts; what is fetched online is remembered in the cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext

from docsign.config import Settings
from docsign.errors import InvalidInput, NotFound, StorageError
from docsign.pki.authority import write_private_file
from docsign.pki.outbound import FETCH_CACHE, FetchCache, GuardedFetcherBackend, current_guard

REVOCATION_CACHE_SECONDS = 300
"""How long fetched OCSP responses and CRLs are reused (never beyond their own nextUpdate)."""
ROOTS_CACHE_SECONDS = 30
"""Longest a server process keeps using trust anchors it read (a change to the folders is seen at once)."""
TIME_TOLERANCE = dt.timedelta(seconds=60)
"""Clock drift tolerated between signer, TSA, OCSP responder and verifier."""
TRUST_DIR_NAME = "trust"


@dataclass(frozen=True)
class Anchor:
    fingerprint: str
    subject: str
    not_after: dt.datetime
    source: str
    certificate: asn1_x509.Certificate


def load_certificates(data: bytes, origin: str) -> list[asn1_x509.Certificate]:
    """Certificates from PEM (one or many) or DER bytes."""
    try:
        if pem.detect(data):
            return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        cert = asn1_x509.Certificate.load(data)
        cert.native  # noqa: B018 - parse now, so garbage fails here and not later
        return [cert]
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{origin} is not a certificate in PEM or DER form ({exc})") from None


class TrustStore:
    def __init__(self, directory: Path, built_in: Iterable[tuple[str, asn1_x509.Certificate]] = ()) -> None:
        self.directory = directory
        self.built_in = list(built_in)

    def anchors(self) -> list[Anchor]:
        found: dict[str, Anchor] = {}
        for source, cert in self.built_in:
            anchor = _anchor(cert, source)
            found[anchor.fingerprint] = anchor
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.der")):
                try:
                    cert = load_certificates(path.read_bytes(), str(path))[0]
                except (OSError, InvalidInput):
                    continue  # a damaged anchor file must not stop verification of others
                anchor = _anchor(cert, "imported")
                found.setdefault(anchor.fingerprint, anchor)
        return list(found.values())

    def roots(self) -> list[asn1_x509.Certificate]:
        return [a.certificate for a in self.anchors()]

    def add(self, path: Path) -> list[Anchor]:
        """Import every certificate of a PEM/DER file, or of each such file in a folder."""
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        try:
            certs = [c for f in files for c in load_certificates(f.read_bytes(), str(f))]
        except OSError as exc:
            raise InvalidInput(f"cannot read {path} ({exc.strerror})") from None
        if not certs:
            raise InvalidInput(f"no certificate found in {path}")
        added = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for cert in certs:
                anchor = _anchor(cert, "imported")
                write_private_file(self.directory / f"{anchor.fingerprint}.der", cert.dump())
                added.append(anchor)
            ROOTS_CACHE.clear()
        except OSError as exc:
            raise StorageError(f"cannot write to the trust store {self.directory} ({exc.strerror})") from None
        return added

    def remove(self, fingerprint: str) -> None:
        fingerprint = fingerprint.lower().replace(":", "")
        matches = list(self.directory.glob(f"{fingerprint}*.der")) if len(fingerprint) >= 8 else []
        if len(matches) != 1:
            raise NotFound(f"no single imported trust anchor has a fingerprint starting with {fingerprint!r}")
        matches[0].unlink()
        ROOTS_CACHE.clear()


def _anchor(cert: asn1_x509.Certificate, source: str) -> Anchor:
    return Anchor(
        fingerprint=hashlib.sha256(cert.dump()).hexdigest(),
        subject=cert.subject.human_friendly,
        not_after=cert.not_valid_after,
        source=source,
        certificate=cert,
    )


def demo_roots(keys_dir: Path) -> list[tuple[str, asn1_x509.Certificate]]:
    """Self-signed certificates of the demo PKI (``<keys dir>/demo/*.crt``); reading them needs no secret."""
    found = []
    demo = keys_dir / "demo"
    if demo.is_dir():
        for path in sorted(demo.glob("*.crt")):
            try:
                certs = load_certificates(path.read_bytes(), str(path))
            except (OSError, InvalidInput):
                continue
            found.extend((f"demo:{path.stem}", c) for c in certs if c.self_signed == "maybe" or c.self_signed == "yes")
    return found


def default_trust_store(settings: Settings) -> TrustStore:
    """The trust store every face uses: demo roots plus anchors imported into ``<data dir>/trust/``."""
    return TrustStore(settings.data_dir / TRUST_DIR_NAME, demo_roots(settings.keys_dir))


class _RootsCache:
    """The default store's roots, read once and reused while neither folder changes (checked by
    modification time on every call) and for at most :data:`ROOTS_CACHE_SECONDS`."""

    def __init__(self) -> None:
        self._items: dict[tuple[Path, Path], tuple[tuple[int | None, ...], float, list[asn1_x509.Certificate]]] = {}
        self._lock = threading.Lock()

    def roots(self, settings: Settings) -> list[asn1_x509.Certificate]:
        trust_dir, demo_dir = settings.data_dir / TRUST_DIR_NAME, settings.keys_dir / "demo"
        key = (trust_dir, demo_dir)
        stamp = (_mtime(trust_dir), _mtime(demo_dir))
        now = time.monotonic()
        with self._lock:
            cached = self._items.get(key)
        if cached is not None and cached[0] == stamp and cached[1] > now:
            return list(cached[2])
        roots = default_trust_store(settings).roots()
        with self._lock:
            self._items[key] = (stamp, now + ROOTS_CACHE_SECONDS, roots)
        return list(roots)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


ROOTS_CACHE = _RootsCache()


def trust_roots(settings: Settings) -> list[asn1_x509.Certificate]:
    """The default trust store's roots (:func:`default_trust_store`), cached per process: a server
    answering many verifications a second does not re-read and re-parse the anchors for each."""
    return ROOTS_CACHE.roots(settings)


# -- revocation cache --------------------------------------------------------------------------
class RevocationCache:
    """OCSP responses and CRLs fetched online by this process, reused until they go stale."""

    def __init__(self, ttl_seconds: float = REVOCATION_CACHE_SECONDS, max_items: int = 512) -> None:
        self.ttl = ttl_seconds
        self.max_items = max_items
        self._items: dict[bytes, tuple[float, asn1_ocsp.OCSPResponse | asn1_crl.CertificateList]] = {}
        self._lock = threading.Lock()

    def remember(self, items: Iterable[asn1_ocsp.OCSPResponse | asn1_crl.CertificateList]) -> None:
        now = time.monotonic()
        with self._lock:
            for item in items:
                key = hashlib.sha256(item.dump()).digest()
                if key not in self._items:
                    self._items[key] = (now + self.ttl, item)
            if len(self._items) > self.max_items:
                for key in sorted(self._items, key=lambda k: self._items[k][0])[: len(self._items) - self.max_items]:
                    del self._items[key]

    def current(self) -> tuple[list[asn1_ocsp.OCSPResponse], list[asn1_crl.CertificateList]]:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (expires, _) in self._items.items() if expires < now]:
                del self._items[key]
            values = [item for _, item in self._items.values()]
        return ([v for v in values if isinstance(v, asn1_ocsp.OCSPResponse)],
                [v for v in values if isinstance(v, asn1_crl.CertificateList)])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        FETCH_CACHE.clear()


REVOCATION_CACHE = RevocationCache()


def build_validation_context(
    trust_roots: Iterable[asn1_x509.Certificate],
    *,
    offline: bool = False,
    other_certs: Iterable[asn1_x509.Certificate] = (),
    moment: dt.datetime | None = None,
    revocation_mode: str = "soft-fail",
    crls: Iterable[asn1_crl.CertificateList] = (),
    ocsps: Iterable[asn1_ocsp.OCSPResponse] = (),
    best_signature_time: dt.datetime | None = None,
    use_cache: bool = False,
    weak_hash_algos: frozenset[str] | None = None,
    fetch_cache: FetchCache | None = None,
) -> ValidationContext:
    """The single way docsign builds a pyHanko ValidationContext (signing B-LT and verifying).

    ``crls``/``ocsps`` are revocation data already at hand (embedded in the document); with
    ``use_cache`` the data this process fetched recently is added. ``revocation_mode`` is
    certvalidator's: "soft-fail" (signing), "hard-fail" (verification: revocation must be checked
    when the certificate names a responder), "require". Online fetches go through the
    verification's :class:`docsign.pki.outbound.OutboundGuard` (allowed hosts, budget).
    ``weak_hash_algos``: digests for which certificate signatures are refused outright (certvalidator's
    default, MD2/MD5/SHA-1, when None); verification leaves SHA-1 out and judges it by date instead.
    ``fetch_cache``: online fetches answered from this cache while the answers are valid (signing passes
    :data:`docsign.pki.outbound.FETCH_CACHE`, which ``use_cache`` also implies); the guard's rules still
    apply to every cached answer.
    """
    trust_roots, crls, ocsps = list(trust_roots), list(crls), list(ocsps)
    if use_cache and fetch_cache is None:
        fetch_cache = FETCH_CACHE  # an agency's seal is checked on every packet and receipt: ask once
    if use_cache:
        cached_ocsps, cached_crls = REVOCATION_CACHE.current()
        ocsps += cached_ocsps
        crls += cached_crls
    return ValidationContext(
        trust_roots=trust_roots,
        other_certs=list(other_certs),
        moment=moment,
        best_signature_time=best_signature_time,
        allow_fetching=not offline,
        crls=crls,
        ocsps=ocsps,
        revocation_mode=revocation_mode,
        time_tolerance=TIME_TOLERANCE,
        fetcher_backend=None if offline else GuardedFetcherBackend(current_guard(), fetch_cache),
        weak_hash_algos=weak_hash_algos,
    )


def remember_fetched(context: ValidationContext) -> None:
    """Keep the OCSP responses and CRLs a context fetched online for the next verifications."""
    if context.fetching_allowed:
        REVOCATION_CACHE.remember([*context.ocsps, *context.crls])
