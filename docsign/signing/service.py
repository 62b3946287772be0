"""Sign a PDF: the one entry point the CLI, the web app, the API and the workers call.

``sign_pdf(input, output, key, request)`` adds one PAdES signature by incremental update, streaming
from file to file, and writes the output completely or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
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
from docsign.signing.draft import DraftLayout, read_draft, same_person
from docsign.signing.errors import (
    BadSignRequest,
    CertificateNotUsable,
    DamagedPdf,
    RevocationInfoUnavailable,
    SignatureNotAllowed,
    SigningFailed,
    TimestampUnavailable,
)
from docsign.signing.fast import signer_for
from docsign.signing.ltv import LtvPdfSigner, presign_key
from docsign.signing.pdfio import IncrementalWriter, PageTree, atomic_output, open_input, open_reader, page_geometry
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
    warnings: tuple[str, ...] = ()
    """Things the signer should look at (the draft names someone else than the certificate's holder)."""


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
            writer = IncrementalWriter(stream, reader)
            plan = _plan(source, reader, writer, key, request, moment, pdf_password)
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
            pdf_signer = LtvPdfSigner(meta, signer, timestamper=timestamper,
                                      stamp_style=BlockStyle(layout_fn=plan.layout, rotate=plan.rotate)
                                      if plan.layout else None,
                                      new_field_spec=plan.new_field,
                                      presign_key=presign_key(key.certificate, request.tsa_url,
                                                              [*key.chain, *request.trust_roots])
                                      if request.level.needs_revocation else None)
            with atomic_output(target) as out:
                await pdf_signer.async_sign_pdf(writer, existing_fields_only=plan.new_field is None,
                                                bytes_reserved=signer.reserved_size(DIGEST, token_size), output=out,
                                                chunk_size=IncrementalWriter.IO_CHUNK_SIZE)  # hashed as copied
                size = out.seek(0, 2)
        except DocsignError:
            raise
        except Exception as exc:
            raise _translate(exc, source, request) from exc
    log.info("signed %s -> %s (%s, %s, field %s)", source.name, target.name, request.level.value,
             request.role.value if request.role else "plain", plan.field_name)
    for warning in plan.warnings:
        log.warning("%s: %s", source.name, warning)
    return SignResult(target, plan.field_name, request.level, request.role, moment, size, plan.warnings)


# -- what to draw and where ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    field_name: str
    new_field: SigFieldSpec | None
    layout: Layout | None
    rotate: int = 0
    warnings: tuple[str, ...] = ()


def _plan(source: Path, reader: PdfFileReader, writer: IncrementalWriter, key: KeyHandle,
          request: SignRequest, moment: dt.datetime, pdf_password: bytes | None) -> _Plan:
    sig_fields = {name: (value, ref) for name, value, ref in enumerate_sig_fields(reader)}
    role = request.role
    if role is Role.ISSUE and not request.number:
        raise BadSignRequest("issuing a document needs its number: pass --number (and --notation)")
    tree = writer.pages  # read as far as needed: signing page 2,000 reads one page, not 2,000
    geometries = tree.geometries
    cert = key.certificate
    holder = roles.subject_field(cert, "common_name") or ""
    draft: DraftLayout | None = None
    if role in (Role.APPROVE, Role.ISSUE):
        # the signer block matters only where approve places the signature itself
        want_signer = role is Role.APPROVE and request.placement is None and request.field_name not in sig_fields
        draft = read_draft(source, geometries, names=[n for n in (request.signer_name, holder) if n],
                           password=pdf_password, want_signer=want_signer)
    warnings: list[str] = []
    layout = _layout(request, cert, moment)
    existing = sig_fields.get(request.field_name) if request.field_name else None
    if existing is not None:
        if existing[0] is not None:
            raise BadSignRequest(f"the signature field {request.field_name!r} is already signed")
        _prepare_role(writer, request, sig_fields, draft)
        return _Plan(request.field_name, None, layout, _field_rotation(existing[1]))  # type: ignore[arg-type]
    if role is Role.ISSUE and request.placement is None and not request.field_name:
        # a seal field prepared by a certifying leader (new visible fields would break the certification)
        prepared = [n for n, (v, _) in sig_fields.items() if v is None and n.startswith("issue")]
        if prepared:
            _prepare_role(writer, request, sig_fields, draft)
            return _Plan(prepared[0], None, layout, _field_rotation(sig_fields[prepared[0]][1]))
    pages = len(tree)
    rect: tuple[float, float, float, float] | None = None
    page_ix = 0
    if request.placement is not None:
        page = request.placement.page
        if page == 0 or abs(page) > pages:
            raise BadSignRequest(f"--page {page} is outside the document (it has {pages} pages)")
        page_ix = page - 1 if page > 0 else pages + page
        rect = request.placement.rect
        if role is Role.ISSUE:
            layout = roles.seal_layout(request, cert)
    elif role is Role.ISSUE:
        page_ix, leader = _leader_block(sig_fields, tree)
        geometry = geometries[page_ix]
        side = roles.seal_side(request.image, request.seal_size_mm)
        rect = geometry.rect_to_user(_inside(roles.seal_rect(geometry.rect_to_visual(leader), side),
                                             geometry.visual_size))
    elif role is Role.APPROVE and draft is not None and draft.signer is not None:
        block = draft.signer
        page_ix = block.page_ix
        image = roles.signature_image(request, cert)
        rect = geometries[page_ix].rect_to_user(roles.signature_rect(block.space, block.centre,
                                                                     roles.image_aspect(image)))
        layout = roles.picture_layout(image)
        if holder and not same_person(block.name, holder):
            warnings.append(f"the draft is signed for {block.name!r} but the signing certificate belongs to "
                            f"{holder!r}: check that the right person signs")
    elif role is Role.APPROVE and draft is not None and draft.problems:
        raise BadSignRequest(f"cannot place the leader's signature: {draft.problems[0]}; give its place with "
                             "--page and --rect")
    elif role is not None:
        page_ix = pages - 1 if role is Role.APPROVE else 0
        geometry = geometries[page_ix]
        rect = geometry.rect_to_user(roles.default_rect(role, *geometry.visual_size))
    _prepare_role(writer, request, sig_fields, draft)
    if request.field_name:
        name = request.field_name  # a new field of that name, as pyHanko's own --field does
    else:
        prefix = role.value if role else "signature"
        taken = set(sig_fields) | {f.get("/T") for f in _all_field_names(reader)}
        n = 1
        while f"{prefix}-{n}" in taken:
            n += 1
        name = f"{prefix}-{n}"
    spec = SigFieldSpec(sig_field_name=name, on_page=page_ix, box=rect) if rect else SigFieldSpec(sig_field_name=name)
    rotate = geometries[page_ix].rotate if rect else 0
    if role is Role.APPROVE and request.certify and rect is not None and "issue-1" not in sig_fields:
        # after a certification, only existing fields may be signed visibly: prepare the seal's field now
        geometry = geometries[page_ix]
        side = roles.seal_side(None, request.seal_size_mm)
        seal = geometry.rect_to_user(_inside(roles.seal_rect(geometry.rect_to_visual(rect), side),
                                             geometry.visual_size))
        append_signature_field(writer, SigFieldSpec(sig_field_name="issue-1", on_page=page_ix, box=seal))
    return _Plan(name, spec, layout if rect else None, rotate, tuple(warnings))


def _inside(rect: tuple[float, float, float, float], size: tuple[float, float]) -> tuple[float, float, float, float]:
    """``rect`` moved (not shrunk) so that it stays on the page."""
    x1, y1, x2, y2 = rect
    dx = max(0.0, -x1) - max(0.0, x2 - size[0])
    dy = max(0.0, -y1) - max(0.0, y2 - size[1])
    return x1 + dx, y1 + dy, x2 + dx, y2 + dy


def _field_rotation(field_ref: Any) -> int:
    """The /Rotate of the page an existing signature field's widget is on."""
    field = field_ref.get_object()
    widget = field if "/Rect" in field else (field.get("/Kids") or [None])[0]
    if widget is None or "/P" not in widget.get_object():
        return 0
    return page_geometry(widget.get_object()["/P"]).rotate


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


def _leader_block(sig_fields: dict[str, Any], tree: PageTree) -> tuple[int, tuple[float, float, float, float]]:
    """Page and rectangle of the most recent signed, visible approve signature."""
    candidates = [n for n, (v, _) in sig_fields.items() if v is not None and n.startswith("approve")]
    candidates = candidates or [n for n, (v, _) in sig_fields.items() if v is not None]
    for name in reversed(candidates):
        field = sig_fields[name][1].get_object()
        widget = field if "/Rect" in field else (field.get("/Kids") or [None])[0]
        if widget is None:
            continue
        widget = widget.get_object()
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        if x2 - x1 < 1 or y2 - y1 < 1 or "/P" not in widget:
            continue
        page_ix = tree.index(widget.raw_get("/P"))
        if page_ix is not None:
            return page_ix, (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    raise BadSignRequest("there is no visible leader's signature to put the seal on: sign with --role approve "
                         "first, or give the seal's place with --page and --rect")


# number and date fields: names of the draft's own blanks
DATE_PARTS = ("ngay", "thang", "nam")


def _prepare_role(writer: IncrementalPdfFileWriter, request: SignRequest, sig_fields: dict[str, Any],
                  draft: DraftLayout | None) -> None:
    """Number and date fields in the draft's blanks: the leader's revision adds them empty, the clerk's
    fills them in (form filling, which the leader's signature allows)."""
    if request.role not in (Role.APPROVE, Role.ISSUE):
        return
    signed = any(v is not None for v, _ in sig_fields.values())
    number_ref = forms.find_field(writer, request.number_field)
    date_refs = [forms.find_field(writer, f"{request.date_field}_{part}") for part in DATE_PARTS]
    whole_date_ref = forms.find_field(writer, request.date_field)  # one field for the whole line (explicit rect)
    prepared = number_ref is not None or whole_date_ref is not None or any(date_refs)
    if request.role is Role.APPROVE or not (prepared or signed):
        _add_fields(writer, request, draft, number_ref is None, whole_date_ref is None and not any(date_refs))
    if request.role is not Role.ISSUE:
        return
    number_ref = forms.find_field(writer, request.number_field)
    date_refs = [forms.find_field(writer, f"{request.date_field}_{part}") for part in DATE_PARTS]
    whole_date_ref = forms.find_field(writer, request.date_field)
    number_line = draft.number if draft is not None else None
    printed_notation = re.sub(r"^\d{4}/", "", number_line.notation) if number_line is not None else ""
    if number_line is not None and request.notation and printed_notation.upper() != request.notation.upper() \
            and number_line.notation.upper() != request.notation.upper():
        raise BadSignRequest(f"the draft prints the notation /{number_line.notation}, not /{request.notation}: "
                             "issue it with the notation it carries, or correct the draft")
    if number_ref is None and not (number_line is not None and number_line.printed):
        if signed and number_line is not None:
            raise BadSignRequest("the leader's signature was made without a field for the number, and filling "
                                 "the draft's blank now would break it: have the leader approve it with docsign")
        problem = (draft.number_problem if draft is not None else None) or \
            "the draft has no 'Số:      /NOTATION' line to write the number into"
        raise BadSignRequest(f"cannot issue: {problem} (Decree 30 App. I): correct the draft and have it "
                             "approved again")
    printed = number_line.printed if number_line is not None else None
    if printed and _number(printed) != _number(request.number or ""):
        raise BadSignRequest(f"the draft already prints the number {printed}, not {request.number}")
    day = request.date or dt.datetime.now(VN_TZ).date()
    if number_ref is not None:
        field = number_ref.get_object()
        if "/Q" in field:  # the draft's own blank: only the number goes in
            forms.fill_text_field(writer, number_ref, _number(request.number or ""))
        else:
            forms.fill_text_field(writer, number_ref, request.number_text(), align="center")
    if whole_date_ref is not None:
        forms.fill_text_field(writer, whole_date_ref, roles.date_line(day, request.place), align="center", size=12)
    elif any(date_refs):
        date_line = draft.date if draft is not None else None
        if date_line is not None and date_line.printed[2] and len(date_line.printed[2]) == 4 \
                and int(date_line.printed[2]) != day.year:
            raise BadSignRequest(f"the draft prints the year {date_line.printed[2]} but the issue date is "
                                 f"{day:%d/%m/%Y}")
        parts = list(roles.date_parts(day))
        if date_line is not None and date_line.printed[2] and len(date_line.printed[2]) == 2:
            if not parts[2].startswith(date_line.printed[2]):
                raise BadSignRequest(f"the draft prints the year as {date_line.printed[2]}.. but the issue date is "
                                     f"{day:%d/%m/%Y}")
            parts[2] = parts[2][2:]  # "năm 20": the century is printed
        for ref, value in zip(date_refs, parts, strict=True):
            if ref is not None:
                forms.fill_text_field(writer, ref, value)
    else:
        problem = (draft.date_problem if draft is not None else None) or \
            "the draft has no place-and-date line 'ngày … tháng … năm …' to write the date into"
        raise BadSignRequest(f"cannot issue: {problem} (Decree 30 App. I): correct the draft and have it "
                             "approved again")


def _add_fields(writer: IncrementalPdfFileWriter, request: SignRequest, draft: DraftLayout | None,
                number: bool, date: bool) -> None:
    number_line = draft.number if draft is not None else None
    date_line = draft.date if draft is not None else None
    if number:
        if request.number_rect:
            forms.add_text_field(writer, request.number_field, 0, request.number_rect)
        elif number_line is not None and number_line.blank is not None:
            blank = number_line.blank
            forms.add_text_field(writer, request.number_field, blank.page_ix, blank.rect, size=blank.size,
                                 align=blank.align, italic=blank.italic)
    if date:
        if request.date_rect:
            forms.add_text_field(writer, request.date_field, 0, request.date_rect, size=12)
        elif date_line is not None:
            for part, blank in zip(DATE_PARTS, (date_line.day, date_line.month, date_line.year), strict=True):
                if blank is not None:
                    forms.add_text_field(writer, f"{request.date_field}_{part}", blank.page_ix, blank.rect,
                                         size=blank.size, align=blank.align, italic=blank.italic)


def _number(number: str) -> str:
    number = number.strip()
    return number.zfill(2) if number.isdigit() and len(number) < 2 else number


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
    from docsign.pki.outbound import FETCH_CACHE
    from docsign.pki.trust import build_validation_context

    roots = [c for c in key.chain if c.self_signed != "no"] + list(request.trust_roots)
    if not roots:
        raise CertificateNotUsable("B-LT needs the certificate chain up to its root CA: add the root to the key "
                                   "file or pass it as a trust anchor")
    # OCSP answers, CRLs and issuer certificates of the chain are reused while valid: a B-LT signature
    # then costs a timestamp round trip, not a round of revocation requests for the same chain
    return build_validation_context(roots, other_certs=key.chain, revocation_mode="hard-fail",
                                    fetch_cache=FETCH_CACHE)


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
