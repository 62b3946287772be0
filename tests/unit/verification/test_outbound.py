"""Where verification may connect (docsign.pki.outbound): the policy, the address rules, redirects, budget,
and the one entry point applying it with the settings."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docsign.config import load_settings
from docsign.errors import ConfigError
from docsign.pki.outbound import FetchPolicy, FetchRefused, OutboundGuard, origin_of, parse_allowed_hosts
from docsign.pki.trust import default_trust_store
from docsign.verification import verify
from tests.support.listener import listening

HEADERS = {"Accept": "*/*"}


def _guard(**policy) -> OutboundGuard:  # type: ignore[no-untyped-def]
    return OutboundGuard(FetchPolicy(**policy))


def test_an_issuer_certificate_comes_only_from_an_allowed_origin() -> None:
    with listening() as target:
        guard = _guard(allow_private=True)
        with pytest.raises(FetchRefused, match="not one the trust anchors"):
            guard.request("cert", "GET", f"{target.url}/ca.crt", HEADERS)
        time.sleep(0.1)
    assert target.connections == 0 and guard.refused == [f"{target.url}/ca.crt"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "[::1]", "0.0.0.0"])
def test_loopback_is_refused_unless_configured_whatever_its_spelling(host: str) -> None:
    with listening() as target:
        url = f"http://{host}:{target.port}/ocsp"
        guard = _guard(allowed=frozenset({origin_of(url)}))  # named by an anchor, but not configured
        with pytest.raises(FetchRefused):
            guard.request("ocsp", "POST", url, HEADERS, b"x")
        time.sleep(0.1)
    assert target.connections == 0


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "100.64.0.1",
                                     "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "224.0.0.1"])
def test_private_link_local_and_mapped_addresses_are_refused_before_connecting(address: str) -> None:
    guard = _guard()
    started = time.monotonic()
    with pytest.raises(FetchRefused, match="loopback, private or link-local"):
        guard.request("crl", "GET", f"http://{address}/x.crl", HEADERS)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("url", ["ldap://ldap.example/cn=ca", "file:///etc/passwd", "ftp://127.0.0.1/x", "http:///x"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefused, match="only http and https"):
        _guard(allow_private=True).request("crl", "GET", url, HEADERS)


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        if self.path == "/ok":
            body = b"fine"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", self.target if self.path == "/away" else "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def redirector():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_redirects_stay_on_the_origin_or_allowed_ones(redirector) -> None:  # type: ignore[no-untyped-def]
    configured = frozenset({origin_of(redirector)})
    with listening() as target:
        _Redirect.target = f"{target.url}/internal"
        guard = _guard(allowed=configured, configured=configured)
        assert guard.request("cert", "GET", f"{redirector}/same", HEADERS).content == b"fine"
        with pytest.raises(FetchRefused, match="redirect to a host that is not allowed"):
            guard.request("crl", "GET", f"{redirector}/away", HEADERS)
        time.sleep(0.1)
    assert target.connections == 0


def test_the_request_budget_is_per_verification(redirector) -> None:  # type: ignore[no-untyped-def]
    configured = frozenset({origin_of(redirector)})
    guard = OutboundGuard(FetchPolicy(allowed=configured, configured=configured, max_requests=2))
    guard.request("crl", "GET", f"{redirector}/ok", HEADERS)
    guard.request("crl", "GET", f"{redirector}/ok", HEADERS)
    with pytest.raises(FetchRefused, match="budget spent"):
        guard.request("crl", "GET", f"{redirector}/ok", HEADERS)


def test_the_time_budget_bounds_a_host_that_never_answers() -> None:
    with listening(hang=True) as tarpit:
        configured = frozenset({origin_of(tarpit.url)})
        guard = OutboundGuard(FetchPolicy(allowed=configured, configured=configured, max_seconds=1.0))
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - a timeout, as the fetchers see it (a RequestException)
            guard.request("crl", "GET", f"{tarpit.url}/slow.crl", HEADERS)
        with pytest.raises(FetchRefused, match="budget spent"):
            guard.request("crl", "GET", f"{tarpit.url}/slow.crl", HEADERS)
        assert time.monotonic() - started < 2.5


def test_allowed_hosts_setting() -> None:
    assert parse_allowed_hosts("ca.gov.vn, 10.1.2.3:8080,https://ocsp.ca.vn/x") == (
        ("ca.gov.vn", 80), ("ca.gov.vn", 443), ("10.1.2.3", 8080), ("ocsp.ca.vn", 443))
    with pytest.raises(ConfigError, match="DOCSIGN_FETCH_ALLOW_HOSTS"):
        load_settings({"DOCSIGN_FETCH_ALLOW_HOSTS": "ftp://x/"})
    with pytest.raises(ConfigError, match="DOCSIGN_FETCH_ALLOW_PRIVATE"):
        load_settings({"DOCSIGN_FETCH_ALLOW_PRIVATE": "maybe"})


def _settings(tmp_path, kit, **env: str):  # type: ignore[no-untyped-def]
    settings = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
                              **{f"DOCSIGN_{k}": v for k, v in env.items()}})
    tmp_path.mkdir(parents=True, exist_ok=True)
    pem = tmp_path / "root.der"
    pem.write_bytes(kit.root.dump())
    default_trust_store(settings).add(pem)
    return settings


def test_the_demo_pki_on_loopback_keeps_working_as_the_public_url(tmp_path, kit, docs,
                                                                  no_revocation_cache) -> None:  # type: ignore[no-untyped-def]
    """Online revocation of a trusted signer on 127.0.0.1: fetched when that is the configured public URL
    (as `docsign run` serves the demo PKI) or private addresses are allowed; refused otherwise."""
    as_public_url = _settings(tmp_path / "a", kit, PUBLIC_URL=kit.url)
    assert verify(docs.b_b, as_public_url, bounded=False).indication.value == "TOTAL_PASSED"
    elsewhere = _settings(tmp_path / "b", kit)
    from docsign.pki.trust import REVOCATION_CACHE

    REVOCATION_CACHE.clear()
    refused = verify(docs.b_b, elsewhere, bounded=False).signatures[0]
    assert (refused.indication.value, refused.sub_indication) == ("INDETERMINATE", "TRY_LATER")
    REVOCATION_CACHE.clear()
    allowed = _settings(tmp_path / "c", kit, FETCH_ALLOW_PRIVATE="1")
    assert verify(docs.b_b, allowed, bounded=False).indication.value == "TOTAL_PASSED"


def test_the_bounded_verifier_applies_the_same_policy(tmp_path, kit, docs, no_revocation_cache) -> None:  # type: ignore[no-untyped-def]
    from docsign.pki.trust import REVOCATION_CACHE

    REVOCATION_CACHE.clear()
    refused = verify(docs.b_b, _settings(tmp_path / "b", kit)).signatures[0]
    assert (refused.indication.value, refused.sub_indication) == ("INDETERMINATE", "TRY_LATER")
    assert verify(docs.b_b, _settings(tmp_path / "a", kit, PUBLIC_URL=kit.url)).indication.value == "TOTAL_PASSED"
