"""B-LT signing reuses OCSP answers, CRLs and its chain's validation while they are valid, and only then:
counted at the test PKI's HTTP server, with answers that expire within seconds."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.authority import AuthorityWithCert
from pyhanko_certvalidator.errors import OCSPFetchError

from docsign import aio
from docsign.pki.authority import IssuerUrls, Profile, build_certificate, name, new_key, utcnow
from docsign.pki.outbound import OWN_BEHALF, FetchCache, FetchPolicy, GuardedFetcherBackend, OutboundGuard, origin_of
from docsign.signing import ltv
from docsign.signing.request import Level, SignRequest
from docsign.signing.service import sign_pdf
from tests.support.pki_server import build_test_pki, free_port, serve_pki
from tests.unit.signing.helpers import assert_interop, load
from tests.unit.signing.pdfgen import make_pdf

VALIDITY = dt.timedelta(seconds=3)


def _asn1(cert) -> asn1_x509.Certificate:  # type: ignore[no-untyped-def]
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _revocation(paths: list[str]) -> list[str]:
    return sorted(p for p in paths if p.startswith(("/pki/ocsp/", "/pki/crl/")))


def _lt_from_embedded_data_only(path: Path, root: asn1_x509.Certificate, moment: dt.datetime) -> None:
    """pyHanko's validator with nothing but the document's DSS, revocation checks required (B-LT)."""
    with path.open("rb") as fh:
        reader = PdfFileReader(fh)
        context = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail", "moment": moment})
        status = validate_pdf_signature(reader.embedded_signatures[0], context)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.valid


def test_b_lt_reuses_answers_until_their_next_update(tmp_path: Path) -> None:
    port = free_port()
    store = build_test_pki(tmp_path / "pki", port)
    store.ocsp_validity = store.crl_validity = VALIDITY
    # a signer whose certificate names a CRL only: its chain and the TSA's are checked by OCSP, so both kinds count
    issuing = store.authorities["issuing"]
    key = new_key()
    urls = store.urls_for("issuing")
    cert = build_certificate(name("Chỉ có CRL", "docsign tests"), key.public_key(), Profile.SIGNER,
                             issuer_cert=issuing.cert, issuer_key=issuing.key,
                             not_before=utcnow() - dt.timedelta(hours=1), not_after=utcnow() + dt.timedelta(days=30),
                             urls=IssuerUrls(ca_issuers=urls.ca_issuers, crl=urls.crl))
    p12 = tmp_path / "crl-only.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"crl-only", key, cert, store.chain_of("issuing"),
                                                          serialization.BestAvailableEncryption(store.passphrase)))
    root = _asn1(store.authorities["root"].cert)
    source = make_pdf(tmp_path / "one.pdf", 1)
    seen: list[str] = []
    ltv.clear_caches()
    with serve_pki(store, port, seen) as url:
        signer = load(p12, SimpleNamespace(passphrase=store.passphrase))
        request = SignRequest(level=Level.B_LT, tsa_url=f"{url}/pki/tsa")
        started = time.time()
        sign_pdf(source, tmp_path / "first.pdf", signer, request)
        first = _revocation(seen)
        assert any(p.startswith("/pki/crl/") for p in first) and any(p.startswith("/pki/ocsp/") for p in first)

        mark = len(seen)
        sign_pdf(source, tmp_path / "second.pdf", signer, request)
        assert seen[mark:] == ["/pki/tsa"]  # one timestamp round trip, nothing else
        _lt_from_embedded_data_only(tmp_path / "second.pdf", root, dt.datetime.now(dt.UTC))

        time.sleep(max(0.0, started + VALIDITY.total_seconds() + 1 - time.time()))  # every nextUpdate is past
        mark = len(seen)
        sign_pdf(source, tmp_path / "third.pdf", signer, request)
        assert _revocation(seen[mark:]) == first
        _lt_from_embedded_data_only(tmp_path / "third.pdf", root, dt.datetime.now(dt.UTC))
        for name_ in ("second.pdf", "third.pdf"):
            assert_interop(tmp_path / name_, store.authorities["root"].cert, 1)
    ltv.clear_caches()


def test_a_cached_answer_is_served_only_where_fetching_it_is_allowed(pki, test_pki) -> None:  # type: ignore[no-untyped-def]
    """A verification whose policy refuses the responder's address gets no answer from the cache either."""
    with pki.leader.open("rb") as fh:
        _, leaf, _ = pkcs12.load_key_and_certificates(fh.read(), pki.passphrase)
    issuing = AuthorityWithCert(_asn1(test_pki.store.authorities["issuing"].cert))
    cache = FetchCache()

    def fetch(guard: OutboundGuard):  # type: ignore[no-untyped-def]
        return aio.run(GuardedFetcherBackend(guard, cache).get_fetchers().ocsp_fetcher.fetch(_asn1(leaf), issuing))

    first = fetch(OutboundGuard(OWN_BEHALF))
    assert cache.hits == 0
    strict = OutboundGuard(FetchPolicy())  # loopback is not allowed for a stranger's document
    with pytest.raises(OCSPFetchError):
        fetch(strict)
    assert strict.refused and cache.hits == 0
    configured = OutboundGuard(FetchPolicy(configured=frozenset({origin_of(test_pki.url)})))
    assert fetch(configured).dump() == first.dump()
    assert cache.hits == 1 and configured.requests_made == 0
