"""The trust store and the one place that builds a pyHanko ValidationContext.

Trust anchors are the demo PKI's roots (when the demo PKI exists) plus the certificates an admin
imports into ``<data dir>/trust/`` (one DER file per anchor, named by its SHA-256 fingerprint).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from docsign.errors import InvalidInput, NotFound, StorageError
from docsign.pki.authority import write_private_file

FETCH_TIMEOUT_SECONDS = 5


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
        except OSError as exc:
            raise StorageError(f"cannot write to the trust store {self.directory} ({exc.strerror})") from None
        return added

    def remove(self, fingerprint: str) -> None:
        fingerprint = fingerprint.lower().replace(":", "")
        matches = list(self.directory.glob(f"{fingerprint}*.der")) if len(fingerprint) >= 8 else []
        if len(matches) != 1:
            raise NotFound(f"no single imported trust anchor has a fingerprint starting with {fingerprint!r}")
        matches[0].unlink()


def _anchor(cert: asn1_x509.Certificate, source: str) -> Anchor:
    return Anchor(
        fingerprint=hashlib.sha256(cert.dump()).hexdigest(),
        subject=cert.subject.human_friendly,
        not_after=cert.not_valid_after,
        source=source,
        certificate=cert,
    )


def build_validation_context(
    trust_roots: Iterable[asn1_x509.Certificate],
    *,
    offline: bool = False,
    other_certs: Iterable[asn1_x509.Certificate] = (),
    moment: dt.datetime | None = None,
    revocation_mode: str = "soft-fail",
) -> ValidationContext:
    """The single way docsign builds a pyHanko ValidationContext (signing B-LT and verifying)."""
    return ValidationContext(
        trust_roots=list(trust_roots),
        other_certs=list(other_certs),
        moment=moment,
        allow_fetching=not offline,
        revocation_mode=revocation_mode,
        fetcher_backend=None if offline else RequestsFetcherBackend(per_request_timeout=FETCH_TIMEOUT_SECONDS),
    )
