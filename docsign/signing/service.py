"""Sign a PDF: the one entry point the CLI, the web app, the API and the workers call.

``sign_pdf(input, output, key, request)`` adds one PAdES signature by incremental update, streaming
from file to file, and writes the output completely or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import (
    MDPPerm,
    SigFieldSpec,
    SigSeedSubFilter,
    append_signature_field,
    enumerate_sig_fields,
)
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import (
    DSSContentSettings,
    PdfSignatureMetadata,
    PdfSigner,
    SigDSSPlacementPreference,
)
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)

from docsign import aio, metrics
from docsign.errors import DocsignError
from docsign.pki.keys import KeyHandle
from docsign.signing import forms, roles
from docsign.signing.appearance import BlockStyle, Layout
from docsign.signing.errors import (
    BadSignRequest,
    CertificateNotUsable,
    DamagedPdf,
    FieldNotFound,
    RevocationInfoUnavailable,
    SignatureNotAllowed,
    SigningFailed,
    TimestampUnavailable,
)
from docsign.signing.fast import signer_for
from docsign.signing.pdfio import atomic_output, media_box, open_input, open_reader, page_count, page_refs
from docsign.signing.request import VN_TZ, Level, Role, SignRequest

log = logging.getLogger(__name__)
DIGEST = "sha256"
TSA_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SignResult:
    output: Path
    field_name: str
    level: Level
    role: Role | None
    signing_time: dt.datetime
    size: int


@metrics.timed("SIGN_SECONDS")
def sign_pdf(input_path: Path | str, output_path: Path | str, key: KeyHandle, request: SignRequest,
             *, pdf_password: bytes | None = None) -> SignResult:
    """Sign ``input_path`` into ``output_path`` (which may be the same file)."""
    return aio.run(async_sign_pdf(input_path, output_path, key, request, pdf_password=pdf_password))


async def async_sign_pdf(input_path: Path | str, output_path: Path | str, key: KeyHandle, request: SignRequest,
                         *, pdf_password: bytes | None = None) -> SignResult:
    source, target = Path(input_path), Path(output_path)
    moment = request.signing_time or dt.datetime.now(dt.UTC)
    key.check_usable(moment)
    timestamper = None
    token_size = 0
    if request.level.needs_timestamp:
        timestamper, token_size = await _timestamper(request.tsa_url)
    with open_input(source) as stream:
        reader = open_reader(source, stream, pdf_password)
        try:
            writer = IncrementalPdfFileWriter(stream, prev=reader)
            plan = _plan(reader, writer, key, request, moment)
            signer = signer_for(key)
            meta = PdfSignatureMetadata(
                field_name=plan.field_name,
                md_algorithm=DIGEST,
                subfilter=SigSeedSubFilter.PADES,
                reason=request.reason,
                location=request.location,
                certify=request.certify,
                docmdp_permissions=MDPPerm(request.docmdp),
                embed_validation_info=request.level.needs_revocation,
                use_pades_lta=request.level is Level.B_LTA,
                validation_context=_validation_context(key, request) if request.level.needs_revocation else None,
                # the DSS goes into the signature's own revision, so the signature covers the whole file
                # (B-LTA puts it with the document timestamp instead)
                dss_settings=DSSContentSettings(
                    placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE
                    if request.level is Level.B_LT else SigDSSPlacementPreference.TOGETHER_WITH_NEXT_TS,
                    include_vri=False),
            )
            pdf_signer = PdfSigner(meta, signer, timestamper=timestamper,
                                   stamp_style=BlockStyle(layout_fn=plan.layout) if plan.layout else None,
                                   new_field_spec=plan.new_field)
            with atomic_output(target) as out:
                await pdf_signer.async_sign_pdf(writer, existing_fields_only=plan.new_field is None,
                                                bytes_reserved=signer.reserved_size(DIGEST, token_size), output=out)
                size = out.seek(0, 2)
        except DocsignError:
            raise
        except Exception as exc:
            raise _translate(exc, source, request) from exc
    log.info("signed %s -> %s (%s, %s, field %s)", source.name, target.name, request.level.value,
             request.role.value if request.role else "plain", plan.field_name)
    return SignResult(target, plan.field_name, request.level, request.role, moment, size)


# -- what to draw and where ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    field_name: str
    new_field: SigFieldSpec | None
    layout: Layout | None


def _plan(reader: PdfFileReader, writer: IncrementalPdfFileWriter, key: KeyHandle, request: SignRequest,
          moment: dt.datetime) -> _Plan:
    sig_fields = {name: (value, ref) for name, value, ref in enumerate_sig_fields(reader)}
    role = request.role
    if role is Role.ISSUE and not request.number:
        raise BadSignRequest("issuing a document needs its number: pass --number (and --notation)")
    layout = _layout(request, key.certificate, moment)
    if request.field_name:
        if request.field_name not in sig_fields:
            empty = sorted(n for n, (v, _) in sig_fields.items() if v is None)
            hint = (f"empty signature fields: {', '.join(empty)}" if empty
                    else "the document has no empty signature field")
            raise FieldNotFound(f"there is no signature field named {request.field_name!r} ({hint})")
        if sig_fields[request.field_name][0] is not None:
            raise BadSignRequest(f"the signature field {request.field_name!r} is already signed")
        _prepare_role(reader, writer, request, sig_fields)
        return _Plan(request.field_name, None, layout)
    if role is Role.ISSUE and request.placement is None:
        # a seal field prepared by a certifying leader (new visible fields would break the certification)
        prepared = [n for n, (v, _) in sig_fields.items() if v is None and n.startswith("issue")]
        if prepared:
            _prepare_role(reader, writer, request, sig_fields)
            return _Plan(prepared[0], None, layout)
    pages = page_count(reader)
    rect: tuple[float, float, float, float] | None = None
    page_ix = 0
    if request.placement is not None:
        page = request.placement.page
        if page == 0 or abs(page) > pages or (page < 0 and -page > pages):
            raise BadSignRequest(f"--page {page} is outside the document (it has {pages} pages)")
        page_ix = page - 1 if page > 0 else pages + page
        rect = request.placement.rect
    elif role is Role.ISSUE:
        page_ix, rect = _leader_block(reader, sig_fields)
    elif role is not None:
        page_ix = pages - 1 if role is Role.APPROVE else 0
        _, _, w, h = media_box(writer.find_page_for_modification(page_ix)[0].get_object())
        rect = roles.default_rect(role, w, h)
    if rect is not None and role is Role.ISSUE and request.placement is None:
        rect = roles.seal_rect(rect)
    _prepare_role(reader, writer, request, sig_fields)
    prefix = role.value if role else "signature"
    taken = set(sig_fields) | {f.get("/T") for f in _all_field_names(reader)}
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    name = f"{prefix}-{n}"
    spec = SigFieldSpec(sig_field_name=name, on_page=page_ix, box=rect) if rect else SigFieldSpec(sig_field_name=name)
    if role is Role.APPROVE and request.certify and rect is not None and "issue-1" not in taken:
        # after a certification, only existing fields may be signed visibly: prepare the seal's field now
        append_signature_field(writer, SigFieldSpec(sig_field_name="issue-1", on_page=page_ix,
                                                    box=roles.seal_rect(rect)))
    return _Plan(name, spec, layout if rect else None)


def _layout(request: SignRequest, cert: asn1_x509.Certificate, moment: dt.datetime) -> Layout | None:
    role = request.role
    if role is Role.APPROVE:
        return roles.approve_layout(request, cert, moment)
    if role is Role.ISSUE:
        return roles.seal_layout(request, cert)
    if role in (Role.APPENDIX, Role.COPY, Role.INCOME):
        return roles.agency_layout(request, cert, moment)
    name = request.signer_name or roles.subject_field(cert, "common_name") or ""
    return roles.text_block([(name, True), (f"Thời gian ký: {roles.vn_time(moment)}", False)])


def _all_field_names(reader: PdfFileReader) -> list[generic.DictionaryObject]:
    try:
        return [ref.get_object() for ref in reader.root["/AcroForm"]["/Fields"]]
    except KeyError:
        return []


def _leader_block(reader: PdfFileReader, sig_fields: dict[str, Any]) -> tuple[int, tuple[float, float, float, float]]:
    """Page and rectangle of the most recent signed, visible approve signature."""
    candidates = [n for n, (v, _) in sig_fields.items() if v is not None and n.startswith("approve")]
    candidates = candidates or [n for n, (v, _) in sig_fields.items() if v is not None]
    refs = page_refs(reader)
    for name in reversed(candidates):
        field = sig_fields[name][1].get_object()
        widget = field if "/Rect" in field else (field.get("/Kids") or [None])[0]
        if widget is None:
            continue
        widget = widget.get_object()
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        if x2 - x1 < 1 or y2 - y1 < 1 or "/P" not in widget:
            continue
        page_ref = widget.raw_get("/P")
        if page_ref.reference in refs:
            return refs.index(page_ref.reference), (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    raise BadSignRequest("there is no visible leader's signature to put the seal on: sign with --role approve "
                         "first, or give the seal's place with --page and --rect")


def _prepare_role(reader: PdfFileReader, writer: IncrementalPdfFileWriter, request: SignRequest,
                  sig_fields: dict[str, Any]) -> None:
    """Number and date fields: the leader's revision adds them empty, the clerk's fills them in."""
    if request.role not in (Role.APPROVE, Role.ISSUE):
        return
    number_ref = forms.find_field(writer, request.number_field)
    date_ref = forms.find_field(writer, request.date_field)
    _, _, w, h = media_box(writer.find_page_for_modification(0)[0].get_object())
    signed = any(v is not None for v, _ in sig_fields.values())
    if request.role is Role.ISSUE and (number_ref is None or date_ref is None) and signed:
        raise BadSignRequest(f"the document has no {request.number_field!r}/{request.date_field!r} fields to "
                             "fill in: the leader's signature must be made with docsign (--role approve), "
                             "which adds them, or the draft must carry these text fields")
    if number_ref is None:
        forms.add_text_field(writer, request.number_field, 0, request.number_rect or roles.number_field_rect(w, h))
    if date_ref is None:
        forms.add_text_field(writer, request.date_field, 0, request.date_rect or roles.date_field_rect(w, h))
    if request.role is Role.ISSUE:
        day = request.date or dt.datetime.now(VN_TZ).date()
        number_ref = forms.find_field(writer, request.number_field)
        date_ref = forms.find_field(writer, request.date_field)
        assert number_ref is not None and date_ref is not None
        forms.fill_text_field(writer, number_ref, request.number_text(), align="center")
        forms.fill_text_field(writer, date_ref, roles.date_line(day, request.place), align="center", size=12)


# -- timestamps and revocation -------------------------------------------------------------------

_timestampers: dict[str, RequestsHTTPTimeStamper] = {}
_ts_lock = threading.Lock()


async def _timestamper(url: str | None) -> tuple[RequestsHTTPTimeStamper, int]:
    """The TSA client for ``url`` (one per process), checked with one request the first time."""
    if not url:
        raise BadSignRequest("B-T and higher need a timestamp authority: set DOCSIGN_TSA_URL or pass --tsa-url")
    with _ts_lock:
        stamper = _timestampers.get(url) or RequestsHTTPTimeStamper(url, timeout=TSA_TIMEOUT_SECONDS)
    try:
        token = await stamper.async_dummy_response(DIGEST)
        size = len(token.dump())
    except Exception as exc:
        raise TimestampUnavailable(f"the timestamp authority {url} did not give a usable timestamp "
                                   f"({_reason(exc)}); try again later or use another --tsa-url") from None
    with _ts_lock:
        _timestampers.setdefault(url, stamper)
    return stamper, size


def _reason(exc: BaseException) -> str:
    while exc.__cause__ is not None and not str(exc):
        exc = exc.__cause__
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def _validation_context(key: KeyHandle, request: SignRequest) -> Any:
    from docsign.pki.trust import build_validation_context

    roots = [c for c in key.chain if c.self_signed != "no"] + list(request.trust_roots)
    if not roots:
        raise CertificateNotUsable("B-LT needs the certificate chain up to its root CA: add the root to the key "
                                   "file or pass it as a trust anchor")
    return build_validation_context(roots, other_certs=key.chain, revocation_mode="hard-fail")


def _translate(exc: Exception, source: Path, request: SignRequest) -> DocsignError:
    """pyHanko and certvalidator failures as errors a clerk can act on."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for err in chain:
        if isinstance(err, DocsignError):
            return err
        if isinstance(err, TimestampRequestError):
            return TimestampUnavailable(f"the timestamp authority {request.tsa_url} failed ({_reason(err)})")
        if isinstance(err, RevokedError):
            return CertificateNotUsable("the signing certificate is revoked: it cannot sign any more")
        if isinstance(err, InsufficientRevinfoError):
            return RevocationInfoUnavailable("the revocation status (OCSP/CRL) of the signing certificate could "
                                             "not be fetched, which B-LT needs; try again later or sign at B-T")
        if isinstance(err, (PathBuildingError, PathValidationError)):
            return CertificateNotUsable(f"the signing certificate does not chain to a trusted root ({_reason(err)})")
        if isinstance(err, PdfError):
            return DamagedPdf(f"{source.name} cannot be signed: {_reason(err)}")
    if isinstance(exc, SigningError):
        text = str(exc)
        if "Certification" in text or "forbids" in text or "locked" in text.lower():
            return SignatureNotAllowed(f"{source.name}: {text}")
        return SigningFailed(f"{source.name}: {text}")
    log.exception("unexpected signing failure")
    return SigningFailed(f"{source.name} could not be signed ({type(exc).__name__}: {_reason(exc)})")
