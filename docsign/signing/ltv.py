"""B-LT/B-LTA validation data, gathered once per chain and reused while it is valid.

Before a B-LT signature pyHanko validates the signer's chain and the TSA's, fetching OCSP answers and
CRLs, and embeds what it used in the DSS. For the same key and TSA the outcome only changes when an
answer or a certificate expires, so the outcome (pyHanko's ``PreSignValidationStatus``) is kept per
:func:`presign_key` until the earliest nextUpdate of its OCSP answers and CRLs and the earliest notAfter
of its certificates, at most :data:`docsign.pki.outbound.FETCH_CACHE_MAX_AGE_SECONDS`. When it has to be
gathered again, the fetches go through :data:`docsign.pki.outbound.FETCH_CACHE`, so only what expired
is fetched. A B-LT signature then costs its timestamp round trip and the signing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers.pdf_signer import PdfSigner, PdfSigningSession, PreSignValidationStatus

from docsign.pki.outbound import FETCH_CACHE, FetchCache, answer_valid_until

PRESIGN_CACHE = FetchCache(max_items=64)
"""Pre-signing validation outcomes of this process, per :func:`presign_key`."""


def clear_caches() -> None:
    """Forget every reused answer and validation outcome (the next B-LT signature fetches afresh)."""
    PRESIGN_CACHE.clear()
    FETCH_CACHE.clear()


def presign_key(signer_cert: asn1_x509.Certificate, tsa_url: str | None,
                context_certs: Iterable[asn1_x509.Certificate]) -> Hashable:
    """What a pre-signing validation depends on: the signer's certificate, the TSA, and the certificates
    its validation context starts from (the key's chain and the extra trust anchors)."""
    def fingerprint(cert: asn1_x509.Certificate) -> bytes:
        return hashlib.sha256(cert.dump()).digest()
    return fingerprint(signer_cert), tsa_url, tuple(sorted(fingerprint(c) for c in context_certs))


def _valid_until(status: PreSignValidationStatus) -> float | None:
    """Until when a validation outcome holds: its answers' nextUpdate and its certificates' notAfter."""
    certs = [c for path in status.validation_paths for c in path.iter_certs(include_root=True)]
    times = [answer_valid_until(item) for item in (*status.ocsps_to_embed, *status.crls_to_embed)]
    times.append(answer_valid_until(certs))
    if any(t is None for t in times):
        return None
    return min(t for t in times if t is not None)


class LtvPdfSigner(PdfSigner):
    """A PdfSigner whose pre-signing validation is taken from :data:`PRESIGN_CACHE` under ``presign_key``
    while it holds (a B-LTA signature on a document that already has a document timestamp validates that
    timestamp too, so it is not reused there)."""

    def __init__(self, *args: Any, presign_key: Hashable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._presign_key = presign_key

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        key = self._presign_key
        if key is None or (self.signature_meta.use_pades_lta and isinstance(pdf_out, IncrementalPdfFileWriter)
                           and pdf_out.prev.embedded_timestamp_signatures):
            return session
        validate = session.perform_presign_validation

        async def perform_presign_validation(pdf_out: Any = None) -> PreSignValidationStatus | None:
            status = PRESIGN_CACHE.get(key)
            if status is None:
                status = await validate(pdf_out)
                if status is not None:
                    PRESIGN_CACHE.put(key, status, _valid_until(status))
            return status  # type: ignore[no-any-return]

        session.perform_presign_validation = perform_presign_validation  # type: ignore[method-assign]
        return session
