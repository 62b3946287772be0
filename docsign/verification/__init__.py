"""Verifying signed PDFs: :func:`verify` is the one way every face does it.

The web page and API, the CLI, sending, edXML import and the worker's check on receipt all call
:func:`verify`. It owns the choices they must not make differently: the trust anchors (the default
store, cached per process by :func:`docsign.pki.trust.trust_roots` and invalidated by
``docsign pki trust add/remove``), where verification may fetch OCSP, CRLs and certificates
(:class:`docsign.pki.outbound.FetchPolicy` from the settings), and the worker process bounded in
time and memory that runs the engine (:mod:`docsign.verification.sandbox`). Anonymous callers name
themselves with ``client``: they get their own small pool, refused with 503 at once when it is full.

Importing this package is cheap; the engine (pyHanko) is loaded by the first verification.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509

    from docsign.config import Settings
    from docsign.pki.outbound import FetchPolicy
    from docsign.verification.report import VerificationReport


def verify(data: bytes, settings: Settings, *, bounded: bool = True, client: str | None = None,
           offline: bool = False, at: dt.datetime | None = None, etsi_report: bool = False,
           extra_roots: Sequence[asn1_x509.Certificate] = ()) -> VerificationReport:
    """Verify every signature of ``data`` against the trust store of ``settings``.

    ``bounded`` runs the engine in this process's sandbox workers (time and memory bounded); only
    trusted in-process callers (tests, benchmarks) turn it off. ``client`` (an anonymous caller's
    address) uses the public pool: :class:`docsign.verification.errors.VerifierBusy` (503) when it
    is full or the client has its share running. ``extra_roots`` are trusted for this call only
    (``docsign verify --trust``). Raises the typed errors of :mod:`docsign.verification.errors`
    when ``data`` is not a readable PDF.
    """
    roots = [*trust_anchors(settings), *extra_roots]
    policy = fetch_policy(settings, roots)
    if not bounded:
        from docsign.pki import outbound
        from docsign.verification import engine

        with outbound.guarded(policy):
            return engine.verify_pdf(data, roots, offline=offline, at=at, etsi_report=etsi_report)
    from docsign.verification import sandbox

    limits = sandbox.Limits(timeout_seconds=settings.verify_timeout_seconds)
    pool = (sandbox.verifier(public=True, workers=settings.verify_concurrency,
                             per_client=settings.verify_per_client, limits=limits) if client is not None
            else sandbox.verifier(limits=limits))
    return pool.verify(data, roots, offline=offline, at=at, etsi_report=etsi_report, policy=policy,
                       client=client)


def trust_anchors(settings: Settings) -> list[asn1_x509.Certificate]:
    """The default trust store's anchors (cached per process; a change to the store is seen at once)."""
    from docsign.pki.trust import trust_roots

    return trust_roots(settings)


def trust_fingerprint(settings: Settings) -> str:
    """One hash of the current trust anchors (a verdict cached under it is never reused across a change)."""
    digest = hashlib.sha256()
    for der in sorted(cert.dump() for cert in trust_anchors(settings)):
        digest.update(hashlib.sha256(der).digest())
    return digest.hexdigest()


def fetch_policy(settings: Settings, roots: Sequence[asn1_x509.Certificate]) -> FetchPolicy:
    """Where a verification under ``settings`` may fetch from: hosts the anchors name, the TSA, the public
    URL and DOCSIGN_FETCH_ALLOW_HOSTS; private addresses only for those configured or when allowed."""
    from docsign.pki.outbound import FetchPolicy

    return FetchPolicy.build(roots, configured_urls=(settings.public_url, settings.tsa_url),
                             extra=settings.fetch_allow_hosts, allow_private=settings.fetch_allow_private,
                             max_requests=settings.fetch_max_requests, max_seconds=settings.fetch_max_seconds)
