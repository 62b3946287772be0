"""Checking what is sent and what arrives: the PDF's signatures under the trust store, and whether the
seal belongs to the sending agency. A verification on receipt serves the other recipients of the same
bytes in this install for a few seconds (:data:`RECEIPT_VERDICTS`), and the verdict recorded when this
install issued a document is reused when it sends those very bytes (:data:`ISSUED_VERDICTS`)."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import verification
from docsign.config import Settings
from docsign.db import transaction_memo
from docsign.errors import InvalidInput
from docsign.exchange import edxml, xmlsig
from docsign.models import Agency, KeyKind, KeyRef
from docsign.pki.trust import trust_roots
from docsign.verification import parsed
from docsign.verification.report import (
    REPORT_VERSION,
    Indication,
    Signer,
    VerificationReport,
    report_from_record,
    report_to_record,
)

log = logging.getLogger(__name__)
TRANSIENT_SUB_INDICATIONS = {"TRY_LATER"}


def verify(settings: Settings, pdf: bytes) -> VerificationReport:
    return verification.verify(pdf, settings)  # bounded in time and memory, like the public page


def is_transient(report: VerificationReport) -> bool:
    return any(s.indication is Indication.INDETERMINATE and s.sub_indication in TRANSIENT_SUB_INDICATIONS
               for s in report.signatures)


VERDICTS_DIR = "verdicts"


def verdict_fingerprint(settings: Settings) -> str:
    """The trust configuration a verdict holds under: the anchors, where verification may fetch from and the
    report's version. Any change gives another fingerprint, so a kept verdict is never reused across it."""
    digest = hashlib.sha256(verification.trust_fingerprint(settings).encode())
    for part in (settings.public_url, settings.tsa_url, repr(sorted(settings.fetch_allow_hosts)),
                 str(settings.fetch_allow_private), str(REPORT_VERSION)):
        digest.update(b"\0" + str(part).encode())
    return digest.hexdigest()


class _KeptVerdicts:
    """Verdicts kept for ``ttl_seconds`` in ``<data dir>/verdicts/<kind>/`` (shared by the web workers, the
    CLI and the workers, like the blobs) under the SHA-256 of the bytes and :func:`verdict_fingerprint`:
    other bytes, a changed trust store or fetch policy, or an older report are never reused. ``keep`` says
    which verification reports are worth keeping; :meth:`put` and :meth:`get` keep other verdicts (a JSON
    object each)."""

    def __init__(self, kind: str, ttl_seconds: float,
                 keep: Callable[[VerificationReport], bool] = lambda _report: True) -> None:
        self.kind, self.ttl, self.keep = kind, ttl_seconds, keep
        self._pruned_at = 0.0

    def _path(self, settings: Settings, sha256: str, fingerprint: str) -> Path:
        return settings.data_dir / VERDICTS_DIR / self.kind / f"{sha256}-{fingerprint[:32]}.json"

    def record(self, settings: Settings, report: VerificationReport, fingerprint: str | None = None) -> None:
        """Keep ``report`` (of the bytes whose SHA-256 it names) when ``keep`` says so."""
        if self.keep(report):
            self.put(settings, report.document.sha256, fingerprint or verdict_fingerprint(settings),
                     {"report": report_to_record(report)})

    def kept(self, settings: Settings, sha256: str, fingerprint: str | None = None) -> VerificationReport | None:
        """The report kept for these bytes under this trust configuration, while it is fresh."""
        verdict = self.get(settings, sha256, fingerprint or verdict_fingerprint(settings))
        try:
            report = report_from_record(verdict["report"]) if verdict is not None else None
        except (ValueError, KeyError, TypeError):
            log.warning("the kept verdict of %s cannot be read: verifying again", sha256)
            return None
        return report if report is not None and report.document.sha256 == sha256 else None

    def put(self, settings: Settings, sha256: str, fingerprint: str, verdict: dict[str, object]) -> None:
        """Keep ``verdict`` of the bytes ``sha256`` under ``fingerprint`` (a failure to write only costs a
        second verification)."""
        path = self._path(settings, sha256, fingerprint)
        body = json.dumps({**verdict, "sha256": sha256, "fingerprint": fingerprint, "recorded_at": time.time()})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._prune(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".verdict-")
            with os.fdopen(fd, "wb") as out:
                out.write(body.encode())
            os.replace(tmp, path)  # whole or absent: a reader never sees half a verdict
        except OSError:
            log.warning("the verdict %s could not be kept; the next use verifies again", path.name)

    def get(self, settings: Settings, sha256: str, fingerprint: str) -> dict[str, object] | None:
        """The verdict kept for these bytes under this fingerprint, while it is fresh."""
        path = self._path(settings, sha256, fingerprint)
        try:
            verdict = json.loads(path.read_bytes())
            usable = (0 <= time.time() - float(verdict["recorded_at"]) < self.ttl
                      and verdict["sha256"] == sha256 and verdict["fingerprint"] == fingerprint)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("the kept verdict %s cannot be read: verifying again", path.name)
            return None
        if not usable:
            return None
        return verdict  # type: ignore[no-any-return]

    def _prune(self, directory: Path) -> None:
        """Drop verdicts and lock files past their use (at most once a minute per process)."""
        now, age = time.time(), max(self.ttl, 60)
        if self._pruned_at > now - age:
            return
        self._pruned_at = now
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < now - age:
                    os.unlink(entry.path)

    @contextlib.contextmanager
    def exclusive(self, settings: Settings, sha256: str, fingerprint: str) -> Iterator[None]:
        """Hold these bytes' lock file (``flock``) across the processes of this install: the second to ask
        waits for the first one's report instead of verifying the same bytes alongside it."""
        path = self._path(settings, sha256, fingerprint).with_suffix(".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield  # no lock file (a read-only data dir): verifying twice is only slower
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


RECEIPT_VERDICT_SECONDS = 5.0
"""How long one verification on receipt serves the other recipients of the same PDF bytes in this install
(one exchange reaches its recipients at about the same time); see :class:`_ReceiptVerdicts`."""


class _ReceiptVerdicts:
    """Verification on receipt, once per PDF for the recipients of one exchange in this install.

    One exchange reaches its recipients as one PDF within a second or two, through the same or other
    worker processes; verifying it again for each would give the same report. So the report is kept for
    RECEIPT_VERDICT_SECONDS, in this process and in ``<data dir>/verdicts/received/``, under the SHA-256
    of the bytes and :func:`verdict_fingerprint`; a worker that finds another verifying the same bytes
    waits for its report. The reuse window is far shorter than the five minutes for which fetched OCSP
    responses and CRLs are reused anyway, so no revocation is noticed later than it would be. Reports that
    say "try later" are never kept. Each recipient still checks the seal against its sender and files
    the document itself."""

    def __init__(self, ttl_seconds: float = RECEIPT_VERDICT_SECONDS, max_items: int = 64) -> None:
        self.ttl, self.max_items = ttl_seconds, max_items
        self.files = _KeptVerdicts("received", ttl_seconds, keep=lambda report: not is_transient(report))
        self._items: dict[tuple[str, str], tuple[float, VerificationReport]] = {}
        self._lock = threading.Lock()
        self.hits = self.shared = self.misses = 0

    def verify(self, settings: Settings, pdf: bytes) -> VerificationReport:
        key = (hashlib.sha256(pdf).hexdigest(), verdict_fingerprint(settings))
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] >= time.monotonic():
                self.hits += 1
                return found[1]
        with self.files.exclusive(settings, *key):
            report = self.files.kept(settings, *key)
            if report is not None:
                self.shared += 1
            else:
                self.misses += 1
                report = verification.verify(pdf, settings)
                self.files.record(settings, report, key[1])
        if not is_transient(report):
            now = time.monotonic()
            with self._lock:
                for stale in [k for k, (expires, _) in self._items.items() if expires < now]:
                    del self._items[stale]
                if len(self._items) < self.max_items:
                    self._items[key] = (now + self.ttl, report)
        return report


RECEIPT_VERDICTS = _ReceiptVerdicts()


class _PacketVerdicts:
    """The XML signature of a packet, checked once for the recipients of one exchange in this install.

    Every recipient of an exchange reads the same packet bytes; the first to check its XML signature keeps
    a valid one (the signer and its certificate) in ``<data dir>/verdicts/packets/`` for
    :data:`RECEIPT_VERDICT_SECONDS`, under the SHA-256 of the packet and :func:`verdict_fingerprint`, and
    the others use it (one waits for another checking the same bytes). A signature that does not verify is
    never kept: each recipient finds that out for itself. Whose seal made the signature is still decided by
    each recipient (:func:`docsign.exchange.packet_seals.signature_problems`)."""

    def __init__(self, ttl_seconds: float = RECEIPT_VERDICT_SECONDS) -> None:
        self.files = _KeptVerdicts("packets", ttl_seconds)
        self.shared = self.checked = 0

    def verify(self, settings: Settings, packet: bytes) -> xmlsig.PacketSignature:
        key = (hashlib.sha256(packet).hexdigest(), verdict_fingerprint(settings))
        with self.files.exclusive(settings, *key):
            kept = self.files.get(settings, *key)
            if kept is not None:
                try:
                    certificate = parsed.certificate(base64.b64decode(str(kept["certificate"])))
                    certificate.native  # noqa: B018 - a certificate that cannot be read means checking again
                    self.shared += 1
                    return xmlsig.PacketSignature(present=True, valid=True, signer=str(kept["signer"]),
                                                  certificate=certificate)
                except (KeyError, ValueError, TypeError):
                    log.warning("the kept packet verdict %s cannot be read: checking again", key[0])
            self.checked += 1
            signature = xmlsig.verify_packet(packet, trust_roots=trust_roots(settings))
            if signature.valid and signature.certificate is not None:
                self.files.put(settings, *key, {"signer": signature.signer,
                                                "certificate": base64.b64encode(signature.certificate.dump()).decode()})
        return signature


PACKET_VERDICTS = _PacketVerdicts()

ISSUED_VERDICT_SECONDS = 600
"""How long the verdict recorded when this install issued (sealed) a document is reused by a send of the
same bytes; see :class:`_IssuedVerdicts`."""


class _IssuedVerdicts:
    """Verdicts of the documents this install issued, reused when it sends them.

    Issuing seals the document and verifies the result once (:func:`record_issued`); the verdict is kept in
    ``<data dir>/verdicts/issued/`` when every signature passed. Sending those bytes within
    :data:`ISSUED_VERDICT_SECONDS` under the same trust configuration uses the verdict instead of verifying
    the seal this install made minutes earlier; anything else is verified afresh. Only the sender's own
    check is spared: every recipient still verifies the document on receipt, and a seal revoked in the
    meantime is refused there (02) as it would be had the sender not sent it."""

    def __init__(self, ttl_seconds: float = ISSUED_VERDICT_SECONDS) -> None:
        self.files = _KeptVerdicts("issued", ttl_seconds,
                                   keep=lambda report: report.indication is Indication.TOTAL_PASSED)
        self.reused = self.verified = 0

    def record(self, settings: Settings, report: VerificationReport) -> None:
        self.files.record(settings, report)

    def verify(self, settings: Settings, pdf: bytes) -> VerificationReport:
        """The kept verdict of these bytes, else a verification now."""
        report = self.files.kept(settings, hashlib.sha256(pdf).hexdigest())
        if report is not None:
            self.reused += 1
            return report
        self.verified += 1
        return verify(settings, pdf)


ISSUED_VERDICTS = _IssuedVerdicts()


def record_issued(settings: Settings, pdf: bytes) -> VerificationReport:
    """Verify a document this install has just issued and keep the verdict for its send."""
    report = verify(settings, pdf)
    ISSUED_VERDICTS.record(settings, report)
    return report


def seal_problems(session: Session, report: VerificationReport, sender: Agency) -> list[str]:
    """Why the document is not a validly sealed document of ``sender`` (empty when it is)."""
    if not report.signatures:
        return ["it carries no digital signature"]
    problems = []
    for sig in report.signatures:
        if sig.indication is not Indication.TOTAL_PASSED:
            who = sig.signer.common_name if sig.signer else sig.field
            reason = "; ".join(sig.errors) or (sig.sub_indication or sig.indication.value)
            problems.append(f"the signature of {who} is not valid ({sig.sub_indication or sig.indication.value}: "
                            f"{reason})")
    if problems:
        return problems
    if seal_owned_by(session, [sig.signer for sig in report.signatures if sig.signer is not None], sender):
        return []
    return [f"no signature belongs to the sending agency {sender.name} ({sender.code}): it needs the agency's "
            "seal, a key registered to it as its seal or a certificate naming the agency itself (CN and O as in "
            "the directory) from its CA; a personal signature is not a seal"]


def seal_owned_by(session: Session, signers: Sequence[Signer], agency: Agency) -> bool:
    """The one seal-ownership check: one of ``signers`` (already valid under the trust store) is ``agency``'s
    seal when its certificate is registered to the agency as its seal key (KeyRef kind SEAL), or when it is
    of the agency's seal profile (:func:`_is_seal_profile`). A personal certificate is never a seal, even
    a leader's whose organisation is the agency."""
    registered = registered_seals(session, agency)
    registered_ids = {(format(cert.serial_number, "x"), cert.issuer.human_friendly) for cert in registered}
    if any((signer.serial, signer.issuer) in registered_ids for signer in signers):
        return True
    expected_issuers = {cert.issuer.human_friendly for cert in registered}
    return any(_is_seal_profile(signer, agency, expected_issuers) for signer in signers)


def registered_seals(session: Session, agency: Agency) -> list[asn1_x509.Certificate]:
    """The agency's registered seal certificates, read once per transaction (a receipt checks its
    packet's seal and its document's; a batch of status packets checks each recipient's)."""
    # a key registered meanwhile is seen by the next transaction
    memo: dict[int, list[asn1_x509.Certificate]] = transaction_memo(session, "docsign.registered_seals")
    if agency.id not in memo:
        memo[agency.id] = [parsed.certificate(der) for der in session.scalars(select(KeyRef.certificate_der).where(
            KeyRef.agency_id == agency.id, KeyRef.kind == KeyKind.SEAL))]
    return memo[agency.id]


def _is_seal_profile(signer: Signer, agency: Agency, expected_issuers: set[str]) -> bool:
    """The seal profile (an organisation certificate, as the government CA and ``docsign pki`` issue them):
    the subject names the agency itself, CN and O both its name in the directory (a personal certificate's
    CN is the person), with no attribute naming a person (givenName, surname, pseudonym); and it comes from
    the CA that issued the agency's registered seal certificates, when it has any."""
    if signer.names_a_person or signer.common_name != agency.name or signer.organization != agency.name:
        return False
    return not expected_issuers or signer.issuer in expected_issuers


def pdf_attachment(packet: edxml.DocumentPacket, max_bytes: int = edxml.DEFAULT_MAX_PACKET_BYTES) -> bytes:
    """The signed PDF a packet carries: the first PDF attachment, else the PDF inside the first zip attachment
    that holds one (the VNPT library zips every file it attaches)."""
    for attachment in packet.attachments:
        if attachment.data.startswith(ZIP_MAGIC):
            continue
        if attachment.content_type == "application/pdf" or attachment.attachment_name.lower().endswith(".pdf"):
            return attachment.data
    for attachment in packet.attachments:
        if attachment.data.startswith(ZIP_MAGIC):
            found = _pdf_in_zip(attachment, max_bytes)
            if found is not None:
                return found
    raise InvalidInput("the packet carries no PDF attachment (nor a zip attachment holding one)")


ZIP_MAGIC = b"PK\x03\x04"


def _pdf_in_zip(attachment: edxml.Attachment, max_bytes: int) -> bytes | None:
    path = f"attachment {attachment.attachment_name!r}"
    try:
        with zipfile.ZipFile(io.BytesIO(attachment.data)) as archive:
            for entry in archive.infolist():
                if entry.is_dir() or not entry.filename.lower().endswith(".pdf"):
                    continue
                if entry.file_size > max_bytes:  # what the header says; the read below is bounded too
                    raise InvalidInput(f"{path}: {entry.filename} unpacks to more than {max_bytes:,} bytes")
                with archive.open(entry) as member:
                    data = member.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise InvalidInput(f"{path}: {entry.filename} unpacks to more than {max_bytes:,} bytes")
                return data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise InvalidInput(f"{path} is not a readable zip file ({exc})") from None
    return None
