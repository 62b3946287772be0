"""Verify every signature of a PDF: pyHanko's validation and difference analysis, docsign's structural
checks, and one verdict table (:mod:`docsign.verification.indications`).

``verify_pdf`` runs in the calling process; faces that take input from strangers run it through
:mod:`docsign.verification.sandbox`, which bounds time and memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    report_seed_value_validation,
)
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import InsufficientRevinfoError, NotYetValidError
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

from docsign import aio
from docsign.pki.trust import build_validation_context, remember_fetched
from docsign.verification import changes, parsed, structure
from docsign.verification.errors import (
    EmptyDocument,
    NotAPdf,
    TooManySignatures,
    UnreadableDocument,
)
from docsign.verification.indications import (
    CHAIN_PROBLEMS,
    CURABLE_BY_POE,
    REVOCATION_UNKNOWN,
    REVOKED,
    SignatureFacts,
    TotalFailed,
    classify,
)
from docsign.verification.report import (
    Coverage,
    DocumentInfo,
    Indication,
    Level,
    Modifications,
    Revocation,
    SignatureReport,
    Signer,
    VerificationReport,
)

log = logging.getLogger(__name__)

MAX_SIGNATURES = 100
"""More signature fields than this and the document is refused (400), not verified for minutes."""
SUPPORTED_SUBFILTERS = {"/ETSI.CAdES.detached": False, "/adbe.pkcs7.detached": True, "/adbe.pkcs7.sha1": True}
"""Signature SubFilters docsign verifies, and whether each is legacy PKCS#7 (not PAdES)."""
SHA1_SUBFILTER = "/adbe.pkcs7.sha1"
"""The CMS signs (encapsulates) the SHA-1 digest of the signed bytes instead of being detached from them."""
SHA1_CUTOFF = dt.datetime(2012, 8, 1, tzinfo=dt.UTC)
"""ETSI TS 119 312 (v1.5.1), as EU DSS's default policy applies it: SHA-1 signatures made (proven by a
timestamp) before this date stay acceptable, later ones are CRYPTO_CONSTRAINTS_FAILURE_NO_POE."""
CMS_ALGORITHMS = CMSAlgorithmUsagePolicy.lift_policy(DisallowWeakAlgorithmsPolicy(
    weak_hash_algos=frozenset({"md2", "md5"})))
"""pyHanko's algorithm policy without SHA-1: docsign judges SHA-1 by date (:data:`SHA1_CUTOFF`)."""
LIBRARY_LOGGERS = ("pyhanko", "pyhanko_certvalidator", "fontTools", "asyncio")

_MODIFICATIONS = {
    ModificationLevel.NONE: Modifications.NONE,
    ModificationLevel.LTA_UPDATES: Modifications.LTA_UPDATES,
    ModificationLevel.FORM_FILLING: Modifications.FORM_FILLING,
    ModificationLevel.ANNOTATIONS: Modifications.ANNOTATIONS,
    ModificationLevel.OTHER: Modifications.OTHER,
}


# -- library noise -----------------------------------------------------------------------------
_RECORDS: ContextVar[list[logging.LogRecord] | None] = ContextVar("docsign_verification_records", default=None)


class _Collector(logging.Handler):
    """Keeps library log records for the verification running in this context (to refine verdicts)."""

    def emit(self, record: logging.LogRecord) -> None:
        bucket = _RECORDS.get()
        if bucket is not None and len(bucket) < 200:
            bucket.append(record)


def silence_libraries() -> None:
    """pyHanko and certvalidator log warnings (with tracebacks) for conditions the report already
    states; they must never reach stdout/stderr of the CLI or the server log as tracebacks."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        if not any(isinstance(h, (logging.NullHandler, _Collector)) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
            if name.startswith("pyhanko"):
                logger.addHandler(_Collector(logging.WARNING))


silence_libraries()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- document level ----------------------------------------------------------------------------
@dataclass
class _Document:
    data: bytes
    reader: PdfFileReader
    trust_roots: list[asn1_x509.Certificate]
    offline: bool
    moment: dt.datetime
    dss_certs: list[asn1_x509.Certificate]
    dss_ocsps: list[asn1_ocsp.OCSPResponse]
    dss_crls: list[asn1_crl.CertificateList]
    dss_revision: int | None
    doc_timestamp_revisions: list[int]
    tail_error: str | None = None
    """Set when only a prefix of the file could be read: what follows was changed unreadably."""


@dataclass(frozen=True)
class Evidence:
    """What pyHanko established about one signature, kept for the ETSI report (None: not reached)."""

    embedded: EmbeddedPdfSignature | None
    status: PdfSignatureStatus | None
    ocsps: Sequence[asn1_ocsp.OCSPResponse] = ()
    crls: Sequence[asn1_crl.CertificateList] = ()


Verified = tuple[SignatureReport, Evidence | None]


def verify_pdf(data: bytes, trust_roots: Sequence[asn1_x509.Certificate], *, offline: bool = False,
               at: dt.datetime | None = None, etsi_report: bool = False) -> VerificationReport:
    """Verify every signature in ``data``; raise only when the input is not a readable PDF.

    ``at`` verifies as of another time (default: now); ``offline`` forbids fetching OCSP, CRLs and
    certificates, so only what the document embeds (and this process cached) is used.
    ``etsi_report`` also writes the ETSI TS 119 102-2 XML report into ``report.etsi_xml``
    (:mod:`docsign.verification.etsi`; it stays None for a document without signatures).
    """
    if not data:
        raise EmptyDocument("The file is empty.")
    if not structure.looks_like_pdf(data):
        raise NotAPdf("The file is not a PDF (no %PDF- header).")
    moment = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    with _quiet():
        reader, readable, tail_error = _open_readable_prefix(data)
        document = DocumentInfo(
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            pages=_page_count(reader),
            revisions=_revisions(reader),
        )
        fields, notes = _signature_fields(reader)
        if len(fields) > MAX_SIGNATURES:
            raise TooManySignatures(f"The document has {len(fields)} signature fields; docsign verifies documents "
                                    f"with at most {MAX_SIGNATURES}.")
        *dss, dss_note = _read_dss(reader)
        if dss_note:
            notes.append(dss_note)
        doc = _Document(readable, reader, list(trust_roots), offline, moment, *dss,
                        doc_timestamp_revisions=[], tail_error=tail_error)
        signatures: list[tuple[str, Any, Any, bool]] = []
        for fq_name, sig_obj, field, vanished in fields:
            if _safe(lambda s=sig_obj: str(s.get("/Type", "/Sig"))) == "/DocTimeStamp":
                revision = _safe(lambda f=field: reader.xrefs.get_last_change(f.get_object().raw_get("/V")))
                if isinstance(revision, int):
                    doc.doc_timestamp_revisions.append(revision)
                continue
            signatures.append((fq_name, sig_obj, field, vanished))
        verified = aio.run(_verify_all(doc, signatures))
        verified.extend((r, None) for r in _unreferenced_signatures(data, fields))
        if notes:  # auxiliary analyses that failed: said on every signature, never a verdict
            verified = [(dataclasses.replace(r, warnings=tuple(dict.fromkeys([*r.warnings, *notes]))), e)
                        for r, e in verified]
        ordered = sorted(verified, key=lambda v: (v[0].revision if v[0].revision is not None else 1 << 30))
        etsi_xml = None
        if etsi_report and ordered:
            from docsign.verification import etsi

            etsi_xml = etsi.document_report(ordered, moment)
    return VerificationReport(document=document, signatures=tuple(r for r, _ in ordered), validation_time=moment,
                              etsi_xml=etsi_xml)


def _open_readable_prefix(data: bytes) -> tuple[PdfFileReader, bytes, str | None]:
    """Read the file; when its last update(s) are malformed, read the longest prefix that ends a
    revision, so the signatures in it still get a verdict (and the unreadable rest counts as a change)."""
    try:
        return _open(data), data, None
    except UnreadableDocument as first_error:
        ends = [m.end() for m in re.finditer(rb"%%EOF[ \t]*(?:\r\n|\r|\n)?", data)]
        for end in reversed(ends[-50:]):
            if end >= len(data.rstrip()):
                continue
            try:
                reader = _open(data[:end])
            except UnreadableDocument:
                continue
            return reader, data[:end], ("The document was changed after signing by an update that cannot be read "
                                        "(malformed cross-reference data).")
        raise first_error from None


def _open(data: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        reader.root  # noqa: B018 - the catalog must resolve, or nothing can be verified
        return reader
    except (RecursionError, MemoryError):
        raise UnreadableDocument("The document's structure is too deeply nested to read.") from None
    except Exception as exc:
        raise UnreadableDocument(f"The PDF cannot be read: {_plain(exc)}") from None


def _page_count(reader: PdfFileReader) -> int | None:
    count = _safe(lambda: int(reader.root["/Pages"]["/Count"]))
    return count if isinstance(count, int) and count >= 0 else None


def _revisions(reader: PdfFileReader) -> int:
    count = _safe(lambda: int(reader.xrefs.total_revisions))
    return count if isinstance(count, int) else 1


def _signature_fields(reader: PdfFileReader) -> tuple[list[tuple[str, Any, Any, bool]], list[str]]:
    """Filled signature fields of the document, plus those that earlier revisions had and the current
    one dropped (a shadow "hide-and-replace" attack makes signatures vanish): (name, sig, field, vanished).

    The scan of earlier revisions is auxiliary: a revision whose catalog or form pyHanko cannot resolve
    (common in files other writers made) is skipped with a warning, never a verdict on the document.
    A current form that cannot be read leaves its signatures to :func:`_unreferenced_signatures`.
    """
    found: list[tuple[str, Any, Any, bool]] = []
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    total = _revisions(reader)
    for revision in [None, *range(total - 2, -1, -1)]:
        try:
            handler = reader if revision is None else reader.get_historical_resolver(revision)
            for fq_name, sig_obj, field in enumerate_sig_fields(handler, filled_status=True):
                ref = _safe(lambda f=field: f.get_object().raw_get("/V"))
                key = (ref.idnum, ref.generation) if hasattr(ref, "idnum") else (id(sig_obj), -1)
                if key in seen:
                    continue
                seen.add(key)
                found.append((str(fq_name), sig_obj.get_object(), field, revision is not None))
                if len(found) > MAX_SIGNATURES:
                    return found, problems
        except (RecursionError, MemoryError) as exc:
            if revision is None:
                raise UnreadableDocument("The document's form fields are nested too deeply to read.") from None
            problems.append(_history_warning(revision, exc))
        except Exception as exc:
            log.debug("form fields of revision %s not readable", revision, exc_info=True)
            if revision is None:
                problems.append(f"The document's form fields cannot be read ({_plain(exc)}); signatures are "
                                "looked for in the file's bytes instead.")
            elif not _is_missing_history(exc):
                problems.append(_history_warning(revision, exc))
    return found, problems


def _is_missing_history(exc: Exception) -> bool:
    """An early revision without a resolvable catalog or form (e.g. a catalog written only later):
    there is no signature to lose there, so no warning either."""
    return isinstance(exc, (AssertionError, KeyError))


def _history_warning(revision: int, exc: BaseException) -> str:
    return (f"Revision {revision} of the document could not be checked for signatures removed later "
            f"({_plain(exc)}).")


def _read_dss(reader: PdfFileReader) -> tuple[list[Any], list[Any], list[Any], int | None, str | None]:
    """The DSS's certificates, OCSP responses, CRLs, the revision that last changed it, and a warning
    when it exists but cannot be read (validation then uses what the signatures embed)."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return [], [], [], None, None
    except Exception as exc:
        return [], [], [], None, f"The document security store (DSS) cannot be read ({_plain(exc)}); it is ignored."
    certs = list(_safe(lambda: [parsed.certificate(ref.get_object().read_data(DecodePurpose.CERTIFICATE))
                                for ref in dss.certs.values()]) or [])
    ocsps, crls = [], []
    for ref in dss.ocsps:
        item = _safe(lambda r=ref: parsed.ocsp_response(r.get_object().read_data(DecodePurpose.OCSP_RESPONSE)))
        if item is not None:
            ocsps.append(item)
    for ref in dss.crls:
        item = _safe(lambda r=ref: parsed.crl(r.get_object().read_data(DecodePurpose.CRL)))
        if item is not None:
            crls.append(item)
    revision = _safe(lambda: reader.xrefs.get_last_change(reader.root.raw_get("/DSS")))
    return certs, ocsps, crls, revision if isinstance(revision, int) else None, None


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[([^\]]{0,200})\]")


def _byte_range_key(text: bytes | str) -> tuple[str, ...]:
    return tuple(str(text if isinstance(text, str) else text.decode("latin-1")).split())


def _unreferenced_signatures(data: bytes, fields: Sequence[tuple[str, Any, Any, bool]]) -> list[SignatureReport]:
    """Signature dictionaries present in the bytes beyond those the document structure reaches: the
    file was damaged or rearranged (signature wrapping); they are reported, never skipped. A signature
    dictionary written again unchanged by a later update (same /ByteRange) is the same signature."""
    referenced = {_byte_range_key(" ".join(str(int(x)) for x in _safe(lambda s=sig: s["/ByteRange"], default=())))
                  for _, sig, _, _ in fields}
    present = {_byte_range_key(m.group(1)) for m in _BYTE_RANGE.finditer(data)}
    unreferenced = len(present - referenced) if len(present) > len(fields) else 0
    return [
        _failed(f"(unreferenced signature {n})",
                "A signature was found in the file that the document's structure does not reach; the file was "
                "damaged or rearranged after signing (signature wrapping).")
        for n in range(1, unreferenced + 1)
    ][:MAX_SIGNATURES]


async def _verify_all(doc: _Document, signatures: list[tuple[str, Any, Any, bool]]) -> list[Verified]:
    reports: list[Verified] = []
    for fq_name, sig_obj, field, vanished in signatures:
        try:
            reports.append(await _verify_signature(doc, fq_name, sig_obj, field, vanished))
        except (RecursionError, MemoryError) as exc:
            reports.append((_failed(fq_name, f"The signature cannot be processed: {_plain(exc)}"), None))
        except Exception as exc:
            log.debug("signature %s could not be processed", fq_name, exc_info=True)
            reports.append((_failed(fq_name, f"The signature cannot be processed: {_plain(exc)}"), None))
    return reports


# -- one signature -----------------------------------------------------------------------------
def _failed(fq_name: str, reason: str, *, signer: Signer | None = None, revision: int | None = None,
            sub_indication: str = "FORMAT_FAILURE", integrity: bool = False) -> SignatureReport:
    return SignatureReport(
        field=fq_name, indication=Indication.TOTAL_FAILED, sub_indication=sub_indication, signer=signer,
        signing_time=None, timestamp_time=None, level=None, integrity=integrity, trusted=False,
        revocation=Revocation.NOT_CHECKED, coverage=None, modifications=None, errors=(reason,), revision=revision,
    )


async def _verify_signature(doc: _Document, fq_name: str, sig_obj: Any, field: Any,
                            vanished: bool = False) -> Verified:
    subfilter = str(_safe(lambda: sig_obj.get("/SubFilter")) or "")
    if subfilter not in SUPPORTED_SUBFILTERS:
        shown = subfilter.lstrip("/") or "none"
        return _failed(fq_name, f"The signature format (SubFilter {shown}) is not supported, so the signature "
                                "cannot be checked."), None
    byte_range = structure.check_byte_range(doc.data, sig_obj)
    if byte_range.errors or byte_range.signed_end is None:
        return _failed(fq_name, " ".join(byte_range.errors)), None
    try:
        emb = EmbeddedPdfSignature(doc.reader, field, fq_name)
        signer_cert = emb.signer_cert
    except Exception as exc:
        return _failed(fq_name, f"The signature value (CMS) cannot be read: {_plain(exc)}"), None
    signer = _signer(signer_cert)
    revision = emb.signed_revision
    errors: list[str] = []
    warnings_: list[str] = []

    der_ok = _safe(lambda: structure.signed_attributes_der(emb.signer_info), default=False)
    if not der_ok:
        errors.append("The signed attributes are not DER encoded, so what was signed is not what is hashed.")
    unaccounted = structure.unaccounted_updates(doc.data, doc.reader, byte_range.signed_end, revision)
    if doc.tail_error:
        unaccounted.append(doc.tail_error)
    if vanished:
        unaccounted.append("The signature was removed from the document's form after signing "
                           "(the document now shows other content).")
    for name in _safe(lambda: changes.appearance_without_value(doc.reader, revision), default=[]):
        unaccounted.append(f"The appearance of form field {name} was changed after signing while its value was "
                           "not (shadow attack: the page now shows content that was not signed).")
    errors.extend(unaccounted)

    status, problem, failure, analysis_note = await _validate(doc, emb, byte_range.signed_end)
    if analysis_note:
        warnings_.append(analysis_note)
    if status is None:
        return _failed(fq_name, failure or "The signature cannot be validated.", signer=signer, revision=revision,
                       sub_indication=_sub_name(problem) or "FORMAT_FAILURE"), None
    timestamp_time = _timestamp_time(status)
    foreign_timestamp = status.timestamp_validity is not None and not status.timestamp_validity.intact
    if foreign_timestamp:
        errors.append("The signature timestamp does not belong to this signature: its message imprint does not "
                      "match the signature value (a timestamp copied from another signature).")
    elif status.timestamp_validity is not None and timestamp_time is None:
        warnings_.append("The signature timestamp is not valid or not trusted; it is ignored.")

    problem, note = await _past_validation(doc, emb, status, problem, timestamp_time)
    if note:
        warnings_.append(note)
    crypto_problem = _crypto_problem(doc, emb, subfilter, timestamp_time)
    if crypto_problem is not None:
        errors.append(_PROBLEM_TEXT[crypto_problem.standard_name])
        if problem is AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE:
            problem = None  # pyHanko's undated "weak algorithm": the dated rule above says it precisely
    analysis_failed = status.diff_result is None and status.coverage is SignatureCoverageLevel.ENTIRE_REVISION
    if analysis_failed:
        warnings_.append(_ANALYSIS_FAILED)

    coverage = _coverage(status.coverage)
    format_error = None
    if coverage is Coverage.PARTIAL:
        format_error = "The signature does not cover its whole revision of the document."
        errors.append(format_error)
    modifications = None if analysis_failed else _modifications(status)
    if unaccounted:
        modifications = Modifications.OTHER
    if isinstance(status.diff_result, SuspiciousModification):
        errors.append(f"The document was changed after signing: {_plain(status.diff_result)}")
    elif modifications is Modifications.OTHER and not unaccounted:
        errors.append("The document was changed after signing in a way the signature does not allow.")
    elif status.docmdp_ok is False:
        errors.append("The document was changed after signing beyond what the certifying signature permits.")
    elif modifications in (Modifications.FORM_FILLING, Modifications.ANNOTATIONS):
        warnings_.append("Form fields or annotations were changed after signing; check what the document shows.")
    constraints_ok = status.docmdp_ok is not False and status.seed_value_ok
    if not status.seed_value_ok:
        errors.append("The signature breaks the constraints (seed values) its signature field sets.")

    if not status.intact:
        errors.append("The signed content was changed: its digest does not match the signature.")
    elif not status.valid:
        errors.append("The signature value does not match the signing certificate.")
    if problem is not None:
        errors.append(_problem_text(problem, doc))

    facts = SignatureFacts(
        format_error=format_error,
        digest_ok=bool(status.intact) and not foreign_timestamp,
        der_ok=bool(der_ok),
        signature_ok=bool(status.valid),
        modifications=modifications,
        docmdp_ok=constraints_ok,
        certificate_problem=problem,
        crypto_problem=crypto_problem,
        changes_unknown=analysis_failed and not unaccounted,
    )
    indication, sub = classify(facts)
    report = SignatureReport(
        field=fq_name,
        indication=indication,
        sub_indication=sub,
        signer=signer,
        signing_time=status.signer_reported_dt,
        timestamp_time=timestamp_time,
        level=_level(doc, emb, subfilter, status, revision),
        integrity=bool(status.intact and status.valid and der_ok),
        trusted=status.validation_path is not None and problem not in CHAIN_PROBLEMS,
        revocation=_revocation(problem, status, doc),
        coverage=coverage,
        modifications=modifications,
        errors=tuple(dict.fromkeys(errors)),
        warnings=tuple(dict.fromkeys(warnings_)),
        revision=revision,
    )
    return report, Evidence(emb, status, doc.dss_ocsps, doc.dss_crls)


def _context(doc: _Document, emb: EmbeddedPdfSignature, *, online: bool, moment: dt.datetime) -> Any:
    return build_validation_context(
        doc.trust_roots,
        offline=not online,
        other_certs=[*doc.dss_certs, *emb.other_embedded_certs],
        moment=moment,
        revocation_mode="hard-fail",
        ocsps=doc.dss_ocsps,
        crls=doc.dss_crls,
        use_cache=True,
    )


async def _run_pyhanko(doc: _Document, emb: EmbeddedPdfSignature, *, online: bool, moment: dt.datetime
                       ) -> tuple[PdfSignatureStatus | None, AdESSubIndic | None, str | None]:
    """pyHanko's validation without its difference analysis (:func:`_with_modifications` does that once)."""
    vc = _context(doc, emb, online=online, moment=moment)  # also validates the timestamp, as pyHanko's default
    records: list[logging.LogRecord] = []
    token = _RECORDS.set(records)
    try:
        if str(emb.sig_object.get("/SubFilter")) == SHA1_SUBFILTER:
            status = await _validate_sha1_subfilter(emb, vc)
        else:
            status = await async_validate_pdf_signature(emb, vc, skip_diff=True, algorithm_policy=CMS_ALGORITHMS)
    except SignatureValidationError as exc:
        return None, exc.ades_subindication, _plain(exc.failure_message)
    finally:
        _RECORDS.reset(token)
        if online:
            remember_fetched(vc)
    problem = _refine(status.trust_problem_indic, records, emb.signer_cert)
    if problem is AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE:
        problem = await _diagnose(doc, emb, online=online, moment=moment) or problem
    return status, problem, None


async def _validate_sha1_subfilter(emb: EmbeddedPdfSignature, vc: Any) -> PdfSignatureStatus:
    """``adbe.pkcs7.sha1``: the CMS signs, as its encapsulated content, the SHA-1 digest of the signed
    bytes. pyHanko validates detached signatures only, so its steps run here with that content."""
    emb.compute_integrity_info(skip_diff=True)
    status_kwargs = emb.summarise_integrity_info()
    status_kwargs.update(await generic_cms.collect_timing_info(
        emb.signer_info, vc, raw_digest=emb.compute_digest, algorithm_policy=CMS_ALGORITHMS))
    if "signer_reported_dt" not in status_kwargs and emb.self_reported_timestamp is not None:
        status_kwargs["signer_reported_dt"] = emb.self_reported_timestamp
    status_kwargs = await generic_cms.cms_basic_validation(
        emb.signed_data, raw_digest=None, validation_context=vc, status_kwargs=status_kwargs,
        key_usage_settings=PdfSignatureStatus.default_usage_constraints(None), algorithm_policy=CMS_ALGORITHMS)
    content = emb.signed_data["encap_content_info"]["content"]
    signed_digest = bytes(content) if content.native is not None else b""
    if signed_digest != emb.compute_digest("sha1"):
        status_kwargs["intact"] = False  # the encapsulated digest is not the digest of these bytes
    tst = status_kwargs.get("timestamp_validity")
    status_kwargs.update(report_seed_value_validation(
        emb, status_kwargs["validation_path"], tst is not None and tst.valid and tst.trusted))
    return PdfSignatureStatus(**status_kwargs)


_ANALYSIS_FAILED = ("The changes made after signing could not be analysed, so the signature cannot be said to "
                    "allow them; check what the document shows.")


def _with_modifications(doc: _Document, emb: EmbeddedPdfSignature, status: PdfSignatureStatus,
                        signed_end: int) -> tuple[PdfSignatureStatus, str | None]:
    """pyHanko's difference analysis (made fast by :mod:`docsign.verification.changes`) on the status.

    When pyHanko's analysis fails on the file, docsign's own stricter check still recognises added
    validation data (LTA_UPDATES, with a warning); anything else leaves ``diff_result`` None: a warning
    and no TOTAL_PASSED, never exit 3."""
    note = None
    try:
        emb.diff_result = changes.review(emb, doc.data, signed_end=signed_end)
    except Exception as exc:
        log.debug("difference analysis of %s failed", emb.field_name, exc_info=True)
        emb.diff_result = None
        if _safe(lambda: changes.only_validation_data(emb, doc.data, signed_end=signed_end), default=False):
            emb.diff_result = DiffResult(ModificationLevel.LTA_UPDATES, set())
            note = (f"pyHanko's analysis of the changes after signing failed ({_plain(exc) or type(exc).__name__}); "
                    "docsign's own check found only added validation data.")
    return dataclasses.replace(status, **emb.summarise_integrity_info()), note


async def _diagnose(doc: _Document, emb: EmbeddedPdfSignature, *, online: bool,
                    moment: dt.datetime) -> AdESSubIndic | None:
    """Name the EN 319 102-1 case behind a general chain failure by asking certvalidator directly
    (used when the library's log records are unavailable, e.g. logging disabled by the host)."""
    validator = CertificateValidator(emb.signer_cert, [*doc.dss_certs, *emb.other_embedded_certs],
                                     _context(doc, emb, online=online, moment=moment))
    try:
        await validator.async_validate_usage(set())
    except InsufficientRevinfoError:
        return AdESIndeterminate.TRY_LATER
    except NotYetValidError:
        return AdESIndeterminate.NOT_YET_VALID
    except Exception:
        return None
    return None


def _refine(problem: AdESSubIndic | None, records: list[logging.LogRecord],
            signer_cert: asn1_x509.Certificate) -> AdESSubIndic | None:
    """pyHanko folds "no revocation data" and "not yet valid" into CERTIFICATE_CHAIN_GENERAL_FAILURE;
    its log records still carry the certvalidator exception, which names the EN 319 102-1 case."""
    if problem is not AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE:
        return problem
    subject = signer_cert.subject.human_friendly
    for record in records:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or subject not in record.getMessage():
            continue
        if isinstance(exc, InsufficientRevinfoError):
            return AdESIndeterminate.TRY_LATER
        if isinstance(exc, NotYetValidError) and getattr(exc, "is_ee_cert", False):
            return AdESIndeterminate.NOT_YET_VALID
    return problem


async def _validate(doc: _Document, emb: EmbeddedPdfSignature, signed_end: int
                    ) -> tuple[PdfSignatureStatus | None, AdESSubIndic | None, str | None, str | None]:
    """Embedded and cached revocation data first; online only when that does not settle it."""
    status, problem, failure = await _run_pyhanko(doc, emb, online=False, moment=doc.moment)
    if status is None:
        return status, problem, failure, None
    status, note = _with_modifications(doc, emb, status, signed_end)
    if doc.offline:
        return status, problem, failure, note
    unsettled = problem in REVOCATION_UNKNOWN | {AdESIndeterminate.OUT_OF_BOUNDS_NO_POE}
    timestamp_unsettled = status.timestamp_validity is not None and _timestamp_time(status) is None
    if unsettled or timestamp_unsettled:
        online_status, online_problem, _ = await _run_pyhanko(doc, emb, online=True, moment=doc.moment)
        if online_status is not None:
            status = dataclasses.replace(online_status, diff_result=status.diff_result, coverage=status.coverage,
                                         docmdp_ok=status.docmdp_ok)
            problem = online_problem
    return status, problem, failure, note


async def _past_validation(doc: _Document, emb: EmbeddedPdfSignature, status: PdfSignatureStatus,
                           problem: AdESSubIndic | None, timestamp_time: dt.datetime | None
                           ) -> tuple[AdESSubIndic | None, str | None]:
    """EN 319 102-1 past signature validation, simplified: a trusted signature timestamp is proof of
    existence; a certificate that expired or was revoked after it does not invalidate the signature."""
    if problem not in CURABLE_BY_POE:
        return problem, None
    cert = emb.signer_cert
    revoked_at = status.revocation_details.revocation_date if status.revocation_details else None
    if timestamp_time is None:
        if problem in REVOKED:
            return AdESIndeterminate.REVOKED_NO_POE, None
        return problem, None
    if revoked_at is not None and revoked_at <= timestamp_time:
        return AdESFailure.REVOKED, None
    if timestamp_time > cert.not_valid_after:
        return TotalFailed.EXPIRED, None
    if timestamp_time < cert.not_valid_before:
        return AdESFailure.NOT_YET_VALID, None
    past, past_problem, _ = await _run_pyhanko(doc, emb, online=not doc.offline, moment=timestamp_time)
    if past is None:
        return problem, None
    if past_problem is None:
        when = "revoked" if revoked_at is not None else "expired or could not be checked"
        return None, (f"The signing certificate has since been {when}, but a trusted timestamp proves the "
                      f"signature existed at {timestamp_time.isoformat()}.")
    return past_problem, None


def _uses_sha1(emb: EmbeddedPdfSignature, subfilter: str) -> bool:
    """Does the signature rest on SHA-1 (its digest, its signature algorithm, or its SubFilter)?"""
    if subfilter == SHA1_SUBFILTER:
        return True
    info = emb.signer_info
    if _safe(lambda: info["digest_algorithm"]["algorithm"].native) == "sha1":
        return True
    return _safe(lambda: info["signature_algorithm"].hash_algo) == "sha1"


def _crypto_problem(doc: _Document, emb: EmbeddedPdfSignature, subfilter: str,
                    timestamp_time: dt.datetime | None) -> AdESSubIndic | None:
    """EN 319 102-1 cryptographic constraints, for SHA-1: acceptable only with proof (a trusted
    timestamp) that the signature existed before :data:`SHA1_CUTOFF`."""
    if doc.moment < SHA1_CUTOFF or not _uses_sha1(emb, subfilter):
        return None
    if timestamp_time is not None and timestamp_time < SHA1_CUTOFF:
        return None
    return AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE


# -- small translations ------------------------------------------------------------------------
def _signer(cert: asn1_x509.Certificate) -> Signer:
    subject = cert.subject.native
    return Signer(
        common_name=_first(subject.get("common_name")),
        organization=_first(subject.get("organization_name")),
        subject=cert.subject.human_friendly,
        issuer=cert.issuer.human_friendly,
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
    )


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else None


def _timestamp_time(status: PdfSignatureStatus) -> dt.datetime | None:
    ts = status.timestamp_validity
    if ts is not None and ts.intact and ts.valid and ts.trusted:
        return ts.timestamp
    return None


def _coverage(level: SignatureCoverageLevel | None) -> Coverage | None:
    if level is SignatureCoverageLevel.ENTIRE_FILE:
        return Coverage.ENTIRE_FILE
    if level is SignatureCoverageLevel.ENTIRE_REVISION:
        return Coverage.ENTIRE_REVISION
    return Coverage.PARTIAL


def _modifications(status: PdfSignatureStatus) -> Modifications | None:
    if isinstance(status.diff_result, SuspiciousModification):
        return Modifications.OTHER
    level = status.modification_level
    if level is None:
        return Modifications.NONE if status.coverage is SignatureCoverageLevel.ENTIRE_FILE else None
    return _MODIFICATIONS[level]


def _level(doc: _Document, emb: EmbeddedPdfSignature, subfilter: str, status: PdfSignatureStatus,
           revision: int) -> Level:
    if SUPPORTED_SUBFILTERS.get(subfilter):
        return Level.PKCS7
    if status.timestamp_validity is None:
        return Level.B_B
    has_revinfo = bool(doc.dss_ocsps or doc.dss_crls)
    if not has_revinfo or doc.dss_revision is None or doc.dss_revision <= revision:
        return Level.B_T
    if any(r > revision for r in doc.doc_timestamp_revisions):
        return Level.B_LTA
    return Level.B_LT


def _revocation(problem: AdESSubIndic | None, status: PdfSignatureStatus, doc: _Document) -> Revocation:
    if problem in REVOKED or status.revocation_details is not None:
        return Revocation.REVOKED
    if problem in REVOCATION_UNKNOWN:
        return Revocation.NOT_CHECKED if doc.offline and problem is AdESIndeterminate.TRY_LATER \
            else Revocation.UNKNOWN
    if problem is not None or status.validation_path is None:
        return Revocation.NOT_CHECKED
    return Revocation.GOOD


def _sub_name(problem: AdESSubIndic | None) -> str | None:
    return problem.standard_name if problem is not None else None


_PROBLEM_TEXT = {
    "NO_CERTIFICATE_CHAIN_FOUND": "The signing certificate does not chain up to a trusted certificate authority.",
    "REVOKED": "The signing certificate was revoked before the signature was made.",
    "REVOKED_NO_POE": "The signing certificate has been revoked, and nothing proves the signature was made before.",
    "REVOKED_CA_NO_POE": "A certificate authority in the chain has been revoked.",
    "EXPIRED": "The signature was made after the signing certificate expired.",
    "NOT_YET_VALID": "The signature was made before the signing certificate became valid.",
    "OUT_OF_BOUNDS_NO_POE": "The signing certificate is expired or not yet valid, and no trusted timestamp proves "
                            "when the signature was made.",
    "TRY_LATER": "The revocation status of a certificate could not be checked now; try again later.",
    "REVOCATION_OUT_OF_BOUNDS_NO_POE": "The revocation information available is not fresh enough.",
    "CHAIN_CONSTRAINTS_FAILURE": "The certificate chain breaks a constraint (key usage, path length or policy).",
    "CRYPTO_CONSTRAINTS_FAILURE": "The signature uses an algorithm that is not considered secure.",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "The signature uses SHA-1, which is not accepted for signatures made after "
                                         "1 August 2012, and no trusted timestamp proves it was made before.",
}


def _problem_text(problem: AdESSubIndic, doc: _Document) -> str:
    text = _PROBLEM_TEXT.get(problem.standard_name, f"The certificate check failed ({problem.standard_name}).")
    if problem is AdESIndeterminate.TRY_LATER and doc.offline:
        text = "The revocation status could not be checked: verification ran offline and the document embeds none."
    return text


def _plain(value: Any) -> str:
    """A library error as one short line for a person (no traceback, no reprs of internals)."""
    text = str(value).strip().splitlines()[0] if str(value).strip() else type(value).__name__
    return text[:300]


def _safe(fn: Any, default: Any = None) -> Any:
    try:
        return fn()
    except Exception:
        return default
