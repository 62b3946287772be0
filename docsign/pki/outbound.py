"""Where verification may connect: the fetchers pyHanko's certvalidator uses, behind a policy.

A PDF from a stranger names URLs in its certificates (AIA caIssuers, OCSP, CRL distribution points);
fetching them as they come would let anyone make the server connect wherever they like (server-side
request forgery). :class:`GuardedFetcherBackend` is the certvalidator ``FetcherBackend`` that every
validation context docsign builds uses (:func:`docsign.pki.trust.build_validation_context`):

* **Issuer certificates (AIA caIssuers)** are fetched only from the origins of :class:`FetchPolicy`:
  those named by the trust anchors' own certificates, the configured TSA and public URL, and
  ``DOCSIGN_FETCH_ALLOW_HOSTS``. A chain that does not reach an anchor never makes docsign connect
  to a place the document chose.
* **OCSP and CRLs** are fetched for certificates certvalidator has already chained to a trust anchor
  (it checks a certificate's signature from the anchor down before its revocation), so their URLs
  are named by a CA the admin trusts; the address rules below still apply.
* **Addresses.** The host name is resolved once, every address it resolves to is checked, and the
  connection goes to a checked address (no second lookup a rebinding DNS server could answer
  differently). Loopback, private, link-local and other non-global addresses are refused unless
  ``DOCSIGN_FETCH_ALLOW_PRIVATE`` is on or the origin was configured by the admin (public URL, TSA,
  ``DOCSIGN_FETCH_ALLOW_HOSTS``; the demo PKI on 127.0.0.1 is the public URL).
* **Redirects** are followed (at most :data:`MAX_REDIRECTS`) only to the same origin or an allowed one.
* **Budget.** One verification makes at most ``max_requests`` fetches, all within ``max_seconds`` of
  the first; each answer is read up to :data:`MAX_RESPONSE_BYTES`.

A refused fetch fails as a network error would: the library reports the revocation status unknown
(TRY_LATER) or the chain not found, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator.fetchers.api import DEFAULT_USER_AGENT, FetcherBackend, Fetchers, FetchLimits
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import RequestsCertificateFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher
from pyhanko_certvalidator.util import get_ocsp_urls, issuer_serial
from requests.structures import CaseInsensitiveDict

log = logging.getLogger(__name__)

PER_REQUEST_SECONDS = 3.0
"""Timeout of one fetch: a slow responder gives TRY_LATER, not a hung page."""
MAX_REQUESTS = 16
"""Fetches one verification may make (a real chain needs a handful)."""
MAX_SECONDS = 10.0
"""Wall-clock seconds all fetches of one verification may take, from the first."""
MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""Largest OCSP response, CRL or certificate bundle read (national CAs' CRLs are a few MiB)."""
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, int]
"""(lower-case host, port): what a policy allows. A port counts: 127.0.0.1:8000 is not 127.0.0.1:6379."""


class FetchRefused(requests.RequestException):
    """A fetch the policy does not allow or the budget does not cover (the fetchers treat it as a network error)."""


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL, or None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[parts.scheme]


def parse_allowed_hosts(text: str) -> tuple[Origin, ...]:
    """``DOCSIGN_FETCH_ALLOW_HOSTS``: comma-separated ``host``, ``host:port`` or URLs (a bare host means
    ports 80 and 443). Raises ValueError on an entry that is none of these."""
    origins: list[Origin] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        if "://" in entry:
            found = origin_of(entry)
            if found is None:
                raise ValueError(f"{entry!r} is not an http(s) URL")
            origins.append(found)
            continue
        host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if not host or (port and not port.isdigit()) or "/" in entry:
            raise ValueError(f"{entry!r} is not a host or host:port")
        host = host.strip("[]").lower().rstrip(".")
        origins.extend([(host, int(port))] if port else [(host, 80), (host, 443)])
    return tuple(origins)


def urls_named_by(cert: asn1_x509.Certificate) -> list[str]:
    """The AIA (caIssuers, OCSP) and CRL distribution point URLs a certificate names."""
    urls: list[str] = []
    with contextlib.suppress(Exception):
        urls.extend(cert.ocsp_urls)
    with contextlib.suppress(Exception):
        for access in cert.authority_information_access_value or ():
            location = access["access_location"]
            if location.name == "uniform_resource_identifier":
                urls.append(location.native)
    with contextlib.suppress(Exception):
        for point in cert.crl_distribution_points:
            urls.append(point.url)
    return [u for u in urls if isinstance(u, str)]


@dataclass(frozen=True)
class FetchPolicy:
    """Where one verification may connect, and how much (picklable: it travels to the sandbox)."""

    allowed: frozenset[Origin] = frozenset()
    """Origins issuer certificates may be fetched from (and redirects may lead to)."""
    configured: frozenset[Origin] = frozenset()
    """Origins the admin configured (public URL, TSA, DOCSIGN_FETCH_ALLOW_HOSTS): may be private addresses."""
    allow_private: bool = False
    """Any origin may be a loopback, private or link-local address (DOCSIGN_FETCH_ALLOW_PRIVATE)."""
    any_origin: bool = False
    """Issuer certificates and redirects may come from anywhere: only for fetching on docsign's own behalf
    (signing with a key the admin registered), never for a verification (see :func:`current_guard`)."""
    max_requests: int = MAX_REQUESTS
    max_seconds: float = MAX_SECONDS
    per_request_seconds: float = PER_REQUEST_SECONDS

    @classmethod
    def build(cls, anchors: Iterable[asn1_x509.Certificate], *, configured_urls: Iterable[str] = (),
              extra: Iterable[Origin] = (), allow_private: bool = False, max_requests: int = MAX_REQUESTS,
              max_seconds: float = MAX_SECONDS) -> FetchPolicy:
        configured = {o for o in map(origin_of, configured_urls) if o is not None} | set(extra)
        named = {o for cert in anchors for o in map(origin_of, urls_named_by(cert)) if o is not None}
        return cls(allowed=frozenset(named | configured), configured=frozenset(configured),
                   allow_private=allow_private, max_requests=max_requests, max_seconds=max_seconds)


def _global(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass
class OutboundGuard:
    """One verification's fetching: the policy, and the budget spent so far (thread safe)."""

    policy: FetchPolicy
    requests_made: int = 0
    refused: list[str] = field(default_factory=list)
    _deadline: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _charge(self) -> float:
        """Count one request; the seconds it may take (raises FetchRefused when the budget is spent)."""
        with self._lock:
            now = time.monotonic()
            if self._deadline is None:
                self._deadline = now + self.policy.max_seconds
            if self.requests_made >= self.policy.max_requests:
                raise FetchRefused(f"fetch budget spent ({self.policy.max_requests} requests)")
            remaining = self._deadline - now
            if remaining <= 0:
                raise FetchRefused(f"fetch budget spent ({self.policy.max_seconds:g} s)")
            self.requests_made += 1
            return min(self.policy.per_request_seconds, remaining)

    def _refuse(self, url: str, why: str) -> FetchRefused:
        with self._lock:
            if len(self.refused) < 50:
                self.refused.append(url)
        log.info("refused to fetch %s: %s", url[:200], why)
        return FetchRefused(f"fetching {url[:200]} is not allowed: {why}")

    def _address(self, url: str, origin: Origin) -> str:
        """A checked address to connect to for ``origin`` (resolved once: no rebinding between check and use)."""
        try:
            infos = socket.getaddrinfo(origin[0], origin[1], type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise FetchRefused(f"cannot resolve {origin[0]} ({exc})") from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise FetchRefused(f"cannot resolve {origin[0]}")
        private_ok = self.policy.allow_private or origin in self.policy.configured
        if not private_ok and not all(_global(a) for a in addresses):
            raise self._refuse(url, "the host is a loopback, private or link-local address")
        return addresses[0]

    def _first_refusal(self, kind: str, url: str) -> str | None:
        """Why the policy refuses to start a fetch of ``url`` (scheme and origin; addresses are checked apart)."""
        first = origin_of(url)
        if first is None:
            return "only http and https URLs are fetched"
        if kind == "cert" and not self.policy.any_origin and first not in self.policy.allowed:
            return "the host is not one the trust anchors or the configuration name"
        return None

    def permits(self, kind: str, url: str) -> bool:
        """Whether this policy would let a fetch of ``url`` go out, without making it: a cached answer is
        served only where fetching it afresh would be allowed (no way around the rules through the cache)."""
        origin = origin_of(url)
        if origin is None or self._first_refusal(kind, url) is not None:
            return False
        if self.policy.allow_private or origin in self.policy.configured:
            return True
        try:
            infos = socket.getaddrinfo(origin[0], origin[1], type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return False
        return bool(infos) and all(_global(str(info[4][0])) for info in infos)

    def request(self, kind: str, method: str, url: str, headers: dict[str, str], body: bytes | None = None
                ) -> requests.Response:
        """Make one fetch of ``kind`` ("cert", "ocsp", "crl") as the policy allows; raise FetchRefused otherwise."""
        refusal = self._first_refusal(kind, url)
        if refusal is not None:
            raise self._refuse(url, refusal)
        first = origin_of(url)
        for _ in range(MAX_REDIRECTS + 1):
            origin = origin_of(url)
            if origin is None:
                raise self._refuse(url, "only http and https URLs are fetched")
            if origin != first and not self.policy.any_origin and origin not in self.policy.allowed:
                raise self._refuse(url, "a redirect to a host that is not allowed")
            timeout = self._charge()
            address = self._address(url, origin)
            response = _send(method, url, origin, address, headers, body, timeout)
            location = response.headers.get("Location")
            if response.status_code in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                if response.status_code == 303:
                    method, body = "GET", None
                continue
            return response
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


def _send(method: str, url: str, origin: Origin, address: str, headers: dict[str, str], body: bytes | None,
          timeout: float) -> requests.Response:
    """One HTTP exchange with ``address`` (the checked one) for ``url``; the body read up to the size cap."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = origin[0] if origin[1] == _DEFAULT_PORTS[parts.scheme] else f"{origin[0]}:{origin[1]}"
    if ":" in origin[0]:
        host_header = f"[{origin[0]}]" if origin[1] == _DEFAULT_PORTS[parts.scheme] else f"[{origin[0]}]:{origin[1]}"
    pool_timeout = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address, origin[1], timeout=pool_timeout, retries=False,
                                           server_hostname=origin[0], assert_hostname=origin[0])
    else:
        pool = urllib3.HTTPConnectionPool(address, origin[1], timeout=pool_timeout, retries=False)
    started = time.monotonic()
    try:
        raw = pool.urlopen(method, path, body=body, headers={**headers, "Host": host_header}, redirect=False,
                           retries=False, preload_content=False)
        try:
            chunks, size = [], 0
            for chunk in raw.stream(65536):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise FetchRefused(f"the answer from {url[:200]} is larger than {MAX_RESPONSE_BYTES} bytes")
                if time.monotonic() - started > timeout * 4:
                    raise FetchRefused(f"the answer from {url[:200]} is too slow")
                chunks.append(chunk)
        finally:
            raw.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise requests.ConnectionError(f"fetching {url[:200]} failed ({type(exc).__name__})") from None
    finally:
        pool.close()
    response = requests.Response()
    response.status_code = raw.status
    response.headers = CaseInsensitiveDict(raw.headers)
    response._content = b"".join(chunks)
    response.url = url
    if response.status_code not in (200, 301, 302, 303, 307, 308):
        raise requests.RequestException(f"status code {response.status_code}")
    return response


# -- answers reused while they are valid --------------------------------------------------------------
FETCH_CACHE_MAX_AGE_SECONDS = 300.0
"""Longest a fetched answer is reused, even when its nextUpdate is later: a responder's later answer
(a revocation, a corrected CRL) is seen by signing and verification within five minutes."""
FETCH_CACHE_MAX_ITEMS = 512
FETCH_CACHE_MAX_BYTES = 64 * 1024 * 1024
"""National CAs' CRLs are a few MiB: the cache holds a few dozen of them at most."""


@dataclass
class _Cached:
    value: Any
    expires: float
    """Wall-clock (epoch) seconds: answers carry absolute times (nextUpdate)."""
    size: int


class FetchCache:
    """OCSP responses, CRLs and issuer certificates the guarded fetchers fetched, kept per exact request
    (OCSP: the certificate's issuer and serial and the issuing authority; CRL and certificates: the URL)
    and reused until the answer's own nextUpdate (certificates: their notAfter), at most
    :data:`FETCH_CACHE_MAX_AGE_SECONDS`. An OCSP response or CRL without nextUpdate, an unsuccessful
    OCSP status and an answer that came through a redirect are not kept. Least recently used entries
    go first beyond ``max_items`` or ``max_bytes``. Thread safe.

    Only fetched answers go in, never what a document embeds, and each is served again only for the
    request that fetched it: an uploaded document cannot plant revocation data for later signatures or
    verifications. Revocation answers are signed; certvalidator checks them on every use as if fetched.
    """

    def __init__(self, max_items: int = FETCH_CACHE_MAX_ITEMS, max_bytes: int = FETCH_CACHE_MAX_BYTES,
                 max_age: float = FETCH_CACHE_MAX_AGE_SECONDS) -> None:
        self.max_items, self.max_bytes, self.max_age = max_items, max_bytes, max_age
        self._items: OrderedDict[Hashable, _Cached] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        now = time.time()
        with self._lock:
            entry = self._items.get(key)
            if entry is not None and entry.expires <= now:
                self._drop(key)
                entry = None
            if entry is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry.value

    def put(self, key: Hashable, value: Any, until: float | None = None) -> None:
        """Keep ``value`` (what a fetcher returned) while it is valid (:func:`answer_valid_until`, or ``until``
        epoch seconds when given); answers that say nothing of their validity are not kept."""
        valid_until = until if until is not None else answer_valid_until(value)
        now = time.time()
        if valid_until is None or valid_until <= now:
            return
        size = _size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = _Cached(value, min(valid_until, now + self.max_age), size)
            self._bytes += size
            while len(self._items) > self.max_items or self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, key: Hashable) -> None:
        self._bytes -= self._items.pop(key).size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def answer_valid_until(value: Any) -> float | None:
    """Epoch seconds until which a fetched answer is valid, or None when it does not say (or failed)."""
    try:
        if isinstance(value, asn1_ocsp.OCSPResponse):
            if value["response_status"].native != "successful":
                return None
            singles = value.basic_ocsp_response["tbs_response_data"]["responses"]
            updates = [single["next_update"].native for single in singles]
            if not updates or any(u is None for u in updates):
                return None
            return min(u.timestamp() for u in updates)
        if isinstance(value, asn1_crl.CertificateList):
            update = value["tbs_cert_list"]["next_update"].native
            return update.timestamp() if update is not None else None
        if isinstance(value, list) and value and all(isinstance(c, asn1_x509.Certificate) for c in value):
            return min(c.not_valid_after.timestamp() for c in value)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return None


def _size(value: Any) -> int:
    """Bytes an answer holds (0 for other values: those are bounded by the number of items)."""
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    return len(value.dump()) if hasattr(value, "dump") else 0


FETCH_CACHE = FetchCache()
"""The process's cache of fetched answers: a B-LT signature costs a timestamp round trip and not a round of
OCSP/CRL requests for the same chain each time, and an agency's seal is not re-asked on every packet."""


# -- certvalidator's fetchers on the guarded transport ---------------------------------------------
class _GuardedTransport:
    """The requests fetchers' two transport methods, through an :class:`OutboundGuard`; with a
    :class:`FetchCache`, answers for the same request are taken from it while valid."""

    kind = "cert"
    user_agent: str

    def __init__(self, guard: OutboundGuard, cache: FetchCache | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[call-arg]
        self._guard = guard
        self._cache = cache
        self._redirected: set[str] = set()

    def _request(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
                 ) -> requests.Response:
        response = self._guard.request(self.kind, method, url, headers, body)
        if response.url != url:
            self._redirected.add(url)
        return response

    def _get(self, url: str, *, acceptable_content_types: Iterable[str]) -> Awaitable[requests.Response]:
        headers = {"Accept": ",".join(acceptable_content_types), "User-Agent": self.user_agent}
        return asyncio.to_thread(self._request, "GET", url, headers)

    def _post(self, url: str, data: bytes, *, content_type: str,
              acceptable_content_types: Iterable[str]) -> Awaitable[requests.Response]:
        headers = {"Accept": ",".join(acceptable_content_types), "User-Agent": self.user_agent,
                   "Content-Type": content_type}
        return asyncio.to_thread(self._request, "POST", url, headers, data)

    async def _through_cache(self, key: Hashable, urls: Iterable[str], fetch: Callable[[], Awaitable[Any]]) -> Any:
        cache, urls = self._cache, list(urls)
        if cache is None:
            return await fetch()
        cached = cache.get(key) if all(self._guard.permits(self.kind, u) for u in urls) else None
        if cached is not None:
            return cached
        result = await fetch()
        if not any(u in self._redirected for u in urls):
            cache.put(key, result)
        return result

    async def _perform_fetch(self, tag: Any, fetch_fun: Callable[[], Awaitable[Any]]) -> Any:
        # CRLs and certificates are fetched per URL (the tag); OCSP goes through fetch() below
        if self._cache is not None and isinstance(tag, str):
            key, inner = (self.kind, tag), fetch_fun

            def fetch_fun() -> Awaitable[Any]:
                return self._through_cache(key, (tag,), inner)
        return await super()._perform_fetch(tag, fetch_fun)  # type: ignore[misc]


class _GuardedOCSPFetcher(_GuardedTransport, RequestsOCSPFetcher):
    kind = "ocsp"

    async def fetch(self, cert: Any, authority: Any) -> asn1_ocsp.OCSPResponse:
        if self._cache is None:
            return await super().fetch(cert, authority)
        # the library's own tag: the answer is about this issuer's serial number, whichever URL gave it
        tag = (issuer_serial(cert), authority.hashable)
        urls = get_ocsp_urls(cert)
        return await self._perform_fetch(  # type: ignore[no-any-return]
            tag, lambda: self._through_cache(("ocsp", tag), urls, lambda: self._fetch(cert, authority)))


class _GuardedCRLFetcher(_GuardedTransport, RequestsCRLFetcher):
    kind = "crl"


class _GuardedCertificateFetcher(_GuardedTransport, RequestsCertificateFetcher):
    kind = "cert"


class GuardedFetcherBackend(FetcherBackend):
    """certvalidator's requests-based fetchers, each request through ``guard``; answers reused from
    ``cache`` (see :class:`FetchCache`) when one is given."""

    def __init__(self, guard: OutboundGuard, cache: FetchCache | None = None) -> None:
        self.guard = guard
        self.cache = cache

    def get_fetchers(self) -> Fetchers:
        policy = self.guard.policy
        budget = FetchBudget(FetchLimits(max_requests=policy.max_requests, max_cert_requests=policy.max_requests,
                                         max_aia_urls_per_object=4))
        common = {"per_request_timeout": policy.per_request_seconds, "budget": budget,
                  "user_agent": f"docsign ({DEFAULT_USER_AGENT})"}
        return Fetchers(ocsp_fetcher=_GuardedOCSPFetcher(self.guard, self.cache, **common),
                        crl_fetcher=_GuardedCRLFetcher(self.guard, self.cache, **common),
                        cert_fetcher=_GuardedCertificateFetcher(self.guard, self.cache, **common))

    async def close(self) -> None:
        return None


# -- the verification in progress -------------------------------------------------------------------
_CURRENT: ContextVar[OutboundGuard | None] = ContextVar("docsign_outbound_guard", default=None)


@contextlib.contextmanager
def guarded(policy: FetchPolicy) -> Iterator[OutboundGuard]:
    """Fetches made by validation contexts built inside follow ``policy`` and share one budget."""
    guard = OutboundGuard(policy)
    token = _CURRENT.set(guard)
    try:
        yield guard
    finally:
        _CURRENT.reset(token)


OWN_BEHALF = FetchPolicy(any_origin=True, allow_private=True)
"""Fetching for docsign's own keys (signing B-LT: the chain and responders of a key the admin registered)."""


def current_guard() -> OutboundGuard:
    """The guard of the verification in progress (:func:`guarded`, set by :func:`docsign.verification.verify`
    and the sandbox workers); outside one, docsign fetches on its own behalf (:data:`OWN_BEHALF`, with
    the budget). No face verifies outside one (tests/unit/verification/test_entry_point.py)."""
    return _CURRENT.get() or OutboundGuard(OWN_BEHALF)
