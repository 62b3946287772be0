"""Long-term evidence of the documents docsign keeps (PAdES B-LT and B-LTA, ETSI EN 319 142-1).

A received document is extended to **B-LT** once its receipt is committed, and a document this install
issues once its issue is committed: the certificates, OCSP responses and CRLs that prove its signatures
(and their timestamps) valid today go into the PDF's DSS, with a VRI entry per signature. The receipt or
the issue queues this through the outbox (:func:`track`), so it happens exactly once per document whatever
the broker does: the task is idempotent (a revision already extended is left alone) and a second writer of
the same revision number loses on the unique (document, number). The bytes as received (revision 1) or as
issued (the ``issue`` revision: the register, the citizen's QR check and the issue's kept verdict name them)
stay; the extended ones are the next revision (action ``ltv``, or ``lta`` when a document timestamp was
added), the current one, which a later send carries.

**Evidence holds until** (:func:`evidence_until`) the earliest of
  * the ``notAfter`` of the last timestamp's TSA certificate and of each certificate of its chain (the last
    document timestamp when there is one; otherwise the earliest-ending signature timestamp), and
  * where it is known, the end of the algorithms that timestamp rests on (:data:`ALGORITHM_ENDS`).
After that moment nobody can validate the timestamp any more, so the evidence must be renewed before it:
a new document timestamp (**B-LTA**), with the validation data of the previous one, is added when
``until - DOCSIGN_LTV_RENEW_DAYS_BEFORE`` has passed. A document with no timestamp at all gets one at once.

The beat job (:func:`schedule_due`, every ``DOCSIGN_LTV_CHECK_HOURS``) only queues the documents that
are due; the worker's task (:func:`maintain`) does the work, retried with backoff while the TSA or a
responder is away; each failed attempt is kept on the document's :class:`LtvRecord` and counted in
``docsign_ltv_renewals_total{outcome="failed"}``. A renewal that would not move the date on (the TSA's
certificate ends no later than the evidence it would renew) is refused and reported, never repeated
in silence.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from docsign import aio, audit, metrics
from docsign.config import Settings
from docsign.db import dialect_insert
from docsign.errors import DocsignError, InvalidInput, NotFound
from docsign.models import Document, DocumentRevision, LtvRecord, OutboxMessage, utcnow
from docsign.storage import BlobStore

log = logging.getLogger(__name__)

MAINTAIN_TASK = "docsign.ltv.maintain"
CHECK_TASK = "docsign.ltv.check"
QUEUE = "docsign.ltv"
"""Evidence work has a queue of its own, consumed by the worker that runs the beat (`docsign worker --beat`,
`docsign run`): it never holds up the exchange's deliveries."""
DIGEST = "sha256"
TSA_TIMEOUT_SECONDS = 10

# Known ends of algorithms, as (what, predicate, last day): NIST SP 800-131A Rev. 2 accepts 112-bit security
# (RSA keys under 3072 bits) through 2030; ETSI TS 119 312 (as EU DSS applies it) ends SHA-1 on 1 August 2012.
RSA_112_BIT_END = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
SHA1_END = dt.datetime(2012, 8, 1, tzinfo=dt.UTC)


class EvidenceNotRenewable(DocsignError):
    """The evidence cannot be extended or renewed as things stand (the TSA's certificate ends too soon, a
    signature cannot be validated); retrying will not help until an admin acts."""

    http_status = 422
    exit_code = 65
    code = "ltv_not_renewable"
    title = "The document's evidence cannot be renewed"


class LtvState:
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


# -- until when evidence holds ------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    level: str
    """B-B, B-T, B-LT or B-LTA, as far as the bytes go."""
    until: dt.datetime | None
    """When the evidence stops holding; None when the document has no timestamp at all."""
    limited_by: str
    """What sets ``until`` (a certificate, an algorithm), for the status listing."""


def _certificates(signed_data: cms.SignedData) -> list[asn1_x509.Certificate]:
    return [c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"]


def _signer_certificate(signed_data: cms.SignedData,
                        candidates: Sequence[asn1_x509.Certificate]) -> asn1_x509.Certificate | None:
    sid = signed_data["signer_infos"][0]["sid"]
    for cert in candidates:
        if sid.name == "issuer_and_serial_number":
            if cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def timestamp_until(signed_data: cms.SignedData,
                    known: Iterable[asn1_x509.Certificate] = ()) -> tuple[dt.datetime, str]:
    """When the evidence of one timestamp token stops holding, and why (see the module's docstring)."""
    pool = [*_certificates(signed_data), *known]
    tsa = _signer_certificate(signed_data, pool)
    if tsa is None:
        raise EvidenceNotRenewable("a timestamp names a TSA certificate the document does not carry")
    ends: list[tuple[dt.datetime, str]] = []
    current: asn1_x509.Certificate | None = tsa
    seen: set[bytes] = set()
    while current is not None and current.sha256 not in seen:
        seen.add(current.sha256)
        role = "the TSA certificate" if current is tsa else "the TSA's CA certificate"
        ends.append((current.not_valid_after, f"{role} {current.subject.human_friendly}"))
        if current.self_signed != "no":
            break
        current = next((c for c in pool if c.subject == current.issuer and c.sha256 not in seen), None)
    key = tsa.public_key
    if key.algorithm == "rsa" and key.bit_size < 3072:
        ends.append((RSA_112_BIT_END, f"RSA-{key.bit_size} of the TSA key (NIST SP 800-131A: through 2030)"))
    digest = signed_data["signer_infos"][0]["digest_algorithm"]["algorithm"].native
    if digest == "sha1":
        ends.append((SHA1_END, "SHA-1 (ETSI TS 119 312)"))
    return min(ends, key=lambda e: e[0])


def _signature_timestamps(signer_info: cms.SignerInfo) -> list[cms.SignedData]:
    """The signature timestamp tokens (CAdES signature-time-stamp, an unsigned attribute) of one signature."""
    return [value["content"] for attribute in signer_info["unsigned_attrs"] or ()
            if attribute["type"].native == "signature_time_stamp_token" for value in attribute["values"]]


def evidence_until(data: bytes, known: Iterable[asn1_x509.Certificate] = ()) -> Evidence:
    """Read how far ``data`` (a PDF) is extended and until when its evidence holds."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    known = list(known)
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        known += list(dss.load_certs())
        has_dss = True
    except Exception:  # no DSS (pyHanko raises NoDSSFoundError) or an unreadable one
        has_dss = False
    doc_timestamps = reader.embedded_timestamp_signatures
    if doc_timestamps:
        tokens = [doc_timestamps[-1].signed_data]
    else:
        tokens = [t for s in reader.embedded_regular_signatures for t in _signature_timestamps(s.signer_info)]
    level = "B-LTA" if doc_timestamps and has_dss else "B-LT" if has_dss and tokens else "B-T" if tokens else "B-B"
    if not tokens:
        return Evidence(level, None, "no timestamp")
    until, why = min((timestamp_until(token, known) for token in tokens), key=lambda e: e[0])
    return Evidence(level, until, why)


# -- extending and renewing -----------------------------------------------------------------------------

def _context(settings: Settings) -> Any:
    from docsign.pki.trust import build_validation_context, trust_roots

    return build_validation_context(trust_roots(settings), revocation_mode="hard-fail")


def _guarded(settings: Settings) -> Any:
    from docsign.pki import outbound
    from docsign.pki.trust import trust_roots
    from docsign.verification import fetch_policy

    return outbound.guarded(fetch_policy(settings, trust_roots(settings)))


async def _add_validation_data(data: bytes, settings: Settings) -> bytes:
    """B-LT: one incremental update with the DSS (and a VRI entry) for every signature and its timestamp."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info

    context = _context(settings)
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    out = io.BytesIO(data)
    writer = IncrementalPdfFileWriter.from_reader(PdfFileReader(out, strict=False))
    modified = False
    for signature in reader.embedded_regular_signatures:
        paths = await collect_validation_info(signature, context)
        dss = DocumentSecurityStore.supply_dss_in_writer(writer, signature.pkcs7_content.hex().encode("ascii"),
                                                         validation_context=context, paths=paths)
        modified = modified or dss.modified
    if not modified:
        return data
    writer.write_in_place()
    return out.getvalue()


async def _tsa(settings: Settings) -> tuple[Any, dt.datetime, str]:
    """A fresh client of the TSA (its certificate may have been renewed since the last call) and until when a
    timestamp it gives now would hold."""
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    from docsign.signing.errors import TimestampUnavailable

    stamper = RequestsHTTPTimeStamper(settings.tsa_url, timeout=TSA_TIMEOUT_SECONDS)
    try:
        token = await stamper.async_dummy_response(DIGEST)
    except Exception as exc:
        raise TimestampUnavailable(f"the timestamp authority {settings.tsa_url} did not answer "
                                   f"({_reason(exc)}); the renewal will be tried again") from None
    until, why = timestamp_until(token["content"])
    return stamper, until, why


async def _add_document_timestamp(data: bytes, settings: Settings, stamper: Any) -> bytes:
    """B-LTA: validation data of the last document timestamp, then a new document timestamp (pyHanko's
    archival timestamp chain)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper

    out = io.BytesIO()
    await PdfTimeStamper(stamper).async_update_archival_timestamp_chain(
        PdfFileReader(io.BytesIO(data), strict=False), _context(settings), in_place=False, output=out,
        default_md_algorithm=DIGEST)
    return out.getvalue()


def _reason(exc: BaseException) -> str:
    while exc.__cause__ is not None and not str(exc):
        exc = exc.__cause__
    return (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]


def _translated(exc: Exception) -> DocsignError:
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError
    from pyhanko_certvalidator.errors import InsufficientRevinfoError
    from requests import RequestException

    from docsign.signing.errors import RevocationInfoUnavailable, TimestampUnavailable

    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, DocsignError):
            return current
        if isinstance(current, (TimestampRequestError, RequestException)):
            return TimestampUnavailable(f"the timestamp authority did not answer ({_reason(current)})")
        if isinstance(current, InsufficientRevinfoError):
            return RevocationInfoUnavailable(f"revocation data (OCSP/CRL) cannot be fetched now ({_reason(current)})")
        current = current.__cause__ or current.__context__
    return EvidenceNotRenewable(f"the document's signatures cannot be validated for long-term evidence "
                                f"({type(exc).__name__}: {_reason(exc)})")


@dataclass(frozen=True)
class Outcome:
    document_id: int
    action: str
    """extended, renewed, not due, already done, failed."""
    evidence: Evidence | None
    detail: str = ""


def track(session: Session, document: Document) -> None:
    """Keep ``document``'s evidence from now on: its extension is queued in the caller's transaction."""
    if document.id is None:
        session.flush()
    with session.no_autoflush:  # what the caller has pending goes out with its next flush, not one of its own
        added = session.scalar(dialect_insert(session)(LtvRecord)
                               .values(document_id=document.id, state=LtvState.PENDING)
                               .on_conflict_do_nothing(index_elements=["document_id"]).returning(LtvRecord.id))
    if added is not None:  # a document already kept is not queued again
        session.add(OutboxMessage(task_name=MAINTAIN_TASK, queue=QUEUE, payload={"document_id": document.id}))


def _due(record: LtvRecord, now: dt.datetime, before_days: int) -> bool:
    return record.evidence_until is None or record.evidence_until - dt.timedelta(days=before_days) <= now


def maintain(session: Session, settings: Settings, document_id: int, *, before_days: int | None = None,
             now: dt.datetime | None = None) -> Outcome:
    """Extend the document to B-LT if its current revision is not yet, and add a document timestamp when its
    evidence ends within ``before_days`` (DOCSIGN_LTV_RENEW_DAYS_BEFORE). Idempotent."""
    now = now or utcnow()
    before_days = settings.ltv_renew_days_before if before_days is None else before_days
    record = session.scalar(select(LtvRecord).where(LtvRecord.document_id == document_id)
                            .options(joinedload(LtvRecord.document).joinedload(Document.revisions)))
    if record is None:
        raise NotFound(f"document {document_id} is not kept for long-term evidence")
    document = record.document
    current = document.current
    assert current is not None
    extended_here = record.revision_sha256 == current.sha256
    if extended_here and not _due(record, now, before_days):
        if record.state != LtvState.OK:
            record.state, record.attempts, record.last_error = LtvState.OK, 0, None
        return Outcome(document_id, "not due", _evidence_of(record))
    store = BlobStore(settings.blob_dir)
    data = store.read_bytes(current.sha256)
    added_timestamp = False
    refused: EvidenceNotRenewable | None = None
    try:
        with _guarded(settings):
            if not extended_here:
                data = aio.run(_add_validation_data(data, settings))
            evidence = evidence_until(data)
            if evidence.until is None or evidence.until - dt.timedelta(days=before_days) <= now:
                stamper, tsa_until, why = aio.run(_tsa(settings))
                if evidence.until is not None and tsa_until <= evidence.until:
                    refused = EvidenceNotRenewable(
                        f"a timestamp now would hold only until {tsa_until:%Y-%m-%d} ({why}), no later than the "
                        f"evidence the document has (until {evidence.until:%Y-%m-%d}): renew the TSA's certificate "
                        "or key first")
                else:
                    data = aio.run(_add_document_timestamp(data, settings, stamper))
                    evidence = evidence_until(data)
                    added_timestamp = True
    except Exception as exc:
        raise _translated(exc) from exc
    changed = data != store.read_bytes(current.sha256)
    if refused is not None and not changed:
        raise refused
    if changed:
        blob = store.put_bytes(data)
        document.revisions.append(DocumentRevision(number=current.number + 1, sha256=blob.key, size=blob.size,
                                                   action="lta" if added_timestamp else "ltv"))
        try:
            session.flush()
        except IntegrityError:  # another run extended the same revision first: its result stands
            session.rollback()
            return Outcome(document_id, "already done", None)
        audit.record(session, "system", "document.ltv", agency_id=document.agency_id, object_type="document",
                     object_id=document.id, details={"level": evidence.level, "revision": current.number + 1,
                                                     "until": evidence.until.isoformat() if evidence.until else None})
        record.revision_sha256 = blob.key
    else:
        record.revision_sha256 = current.sha256
    renewed = added_timestamp and record.evidence_until is not None
    record.level, record.evidence_until = evidence.level, evidence.until
    record.state, record.attempts, record.last_error = LtvState.OK, 0, None
    if added_timestamp:
        record.renewals += 1
    metrics.LTV_RENEWALS.labels("done").inc()
    action = "renewed" if renewed else "extended"
    log.info("document %s %s to %s; evidence holds until %s", document_id, action, evidence.level, evidence.until)
    if refused is not None:  # the validation data is kept; the renewal waits for the TSA's new certificate
        record_failure(session, document_id, refused.message, final=True)
        return Outcome(document_id, action, evidence, refused.message)
    return Outcome(document_id, action, evidence)


def _evidence_of(record: LtvRecord) -> Evidence:
    return Evidence(record.level or "", record.evidence_until, "")


def record_failure(session: Session, document_id: int, reason: str, *, final: bool) -> None:
    """A failed attempt: kept on the record (``failed`` once given up: the next check queues it again)
    and counted in the metrics."""
    metrics.LTV_RENEWALS.labels("failed").inc()
    record = session.scalar(select(LtvRecord).where(LtvRecord.document_id == document_id))
    if record is None:
        return
    record.attempts += 1
    record.last_error = reason[:2000]
    record.state = LtvState.FAILED if final else LtvState.PENDING
    log.warning("long-term evidence of document %s: %s%s", document_id, reason,
                "" if final else " (will be retried)")


# -- what is due, and the beat job -------------------------------------------------------------------------

def _due_filter(now: dt.datetime, before_days: int) -> Any:
    return or_(LtvRecord.state == LtvState.FAILED, LtvRecord.evidence_until.is_(None),
               LtvRecord.evidence_until <= now + dt.timedelta(days=before_days))


def due_count(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Documents whose evidence must be extended or renewed now (or whose last attempt failed)."""
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(LtvRecord).where(
        _due_filter(now or utcnow(), settings.ltv_renew_days_before))) or 0)


def schedule_due(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """The beat job: queue (through the outbox) every document due for renewal, and those given up before.
    Documents already queued (pending) are left to their task."""
    now = now or utcnow()
    records = session.scalars(select(LtvRecord).where(_due_filter(now, settings.ltv_renew_days_before),
                                                      LtvRecord.state != LtvState.PENDING)
                              .order_by(LtvRecord.id).with_for_update(skip_locked=True)).all()
    for record in records:
        record.state = LtvState.PENDING
        session.add(OutboxMessage(task_name=MAINTAIN_TASK, queue=QUEUE, payload={"document_id": record.document_id}))
    if records:
        log.info("long-term evidence: %d documents queued for renewal", len(records))
    return len(records)


def checked_days(before_days: int | None, settings: Settings) -> int:
    if before_days is None:
        return settings.ltv_renew_days_before
    if before_days < 0:
        raise InvalidInput(f"--before must be a number of days, 0 or more, not {before_days}")
    return before_days


def due_documents(session: Session, before_days: int, now: dt.datetime | None = None) -> list[int]:
    return list(session.scalars(select(LtvRecord.document_id).where(_due_filter(now or utcnow(), before_days))
                                .order_by(LtvRecord.document_id)))


def require_tracked(session: Session, document_id: int) -> None:
    if session.scalar(select(LtvRecord.id).where(LtvRecord.document_id == document_id)) is None:
        exists = session.get(Document, document_id) is not None
        raise NotFound(f"document {document_id} " + ("is not kept for long-term evidence (only received "
                                                      "and issued documents are)" if exists else "does not exist"))


@dataclass(frozen=True)
class StatusRow:
    document_id: int
    agency_code: str
    title: str
    level: str | None
    evidence_until: dt.datetime | None
    state: str
    due: bool
    attempts: int
    last_error: str | None


def status(session: Session, settings: Settings, now: dt.datetime | None = None) -> list[StatusRow]:
    now = now or utcnow()
    records = session.scalars(select(LtvRecord).options(joinedload(LtvRecord.document).joinedload(Document.agency))
                              .order_by(LtvRecord.evidence_until.is_(None).desc(), LtvRecord.evidence_until,
                                        LtvRecord.document_id)).all()
    return [StatusRow(r.document_id, r.document.agency.code, r.document.title, r.level, r.evidence_until, r.state,
                      r.state == LtvState.FAILED or _due(r, now, settings.ltv_renew_days_before), r.attempts,
                      r.last_error) for r in records]
