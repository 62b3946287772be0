"""Public verification: the page ``/verify`` (no login) and ``POST /api/v1/verify``.

Views only read the upload, call the domain (:func:`docsign.verification.verify`) in the anonymous
callers' own bounded pool, and render; nothing an anonymous user uploads is written anywhere. When
that pool, or the client's share of it (``DOCSIGN_VERIFY_CONCURRENCY``, ``DOCSIGN_VERIFY_PER_CLIENT``),
is full, the answer is 503 with ``Retry-After`` at once. Both POSTs are
rate-limited per client IP (``DOCSIGN_VERIFY_RATE``, token buckets per web process, see
:mod:`docsign.verification.ratelimit`) and answer 429 with ``Retry-After`` beyond it.

Report formats: JSON (design.md contract) by default; the ETSI TS 119 102-2 XML report with
``?format=etsi`` or ``Accept: application/vnd.etsi.validation-report+xml`` (or ``application/xml``),
and on the page with the form's second button (``format=etsi``), which downloads it from the same
POST (the file is not kept, so there is nothing to fetch later).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState

from docsign.errors import DocsignError, InvalidInput
from docsign.verification import ratelimit, verify
from docsign.verification.errors import DocumentTooLarge, EmptyDocument, NotAPdf, RateLimited, etsi_xml
from docsign.verification.render import signature_views
from docsign.verification.report import VerificationReport
from docsign.web.context import settings
from docsign.web.errors import problem_for

bp = Blueprint("verify", __name__)
LIMITER_KEY = "docsign.verify_limiter"
PDF_TYPES = {"application/pdf", "application/x-pdf", "application/octet-stream"}
ETSI_MEDIA_TYPE = "application/vnd.etsi.validation-report+xml"
XML_TYPES = (ETSI_MEDIA_TYPE, "application/xml", "text/xml")
ETSI_FILENAME = "etsi-validation-report.xml"


@bp.record_once
def _exempt_from_csrf(state: BlueprintSetupState) -> None:
    # Anonymous, read-only, keeps nothing: there is no session state a forged request could abuse.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def _limit() -> None:
    """Take a token for the client's IP, or raise RateLimited (before any work is done)."""
    limiter = current_app.extensions.get(LIMITER_KEY)
    if limiter is None:
        rate = settings().verify_rate
        limiter = current_app.extensions[LIMITER_KEY] = (
            ratelimit.TokenBuckets(*rate) if rate is not None else False)
    if limiter is False:
        return
    wait = limiter.take(request.remote_addr or "unknown")
    if wait > 0:
        seconds = ratelimit.retry_after(wait)
        raise RateLimited(f"Too many verification requests from your address; try again in {seconds} s.",
                          retry_after=seconds)


def _upload() -> bytes:
    """The uploaded PDF (multipart field ``file`` or a raw application/pdf body), size-checked."""
    limit = settings().max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 1024 * 1024:
        raise DocumentTooLarge(f"The file is larger than the {settings().max_upload_mb} MiB allowed.")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise EmptyDocument("No file was sent: use the multipart field 'file'.")
        data = upload.stream.read(limit + 1)
    elif request.mimetype in PDF_TYPES or not request.mimetype:
        data = request.stream.read(limit + 1)
    else:
        raise NotAPdf(f"Send a PDF (application/pdf or multipart field 'file'), not {request.mimetype}.")
    if len(data) > limit:
        raise DocumentTooLarge(f"The file is larger than the {settings().max_upload_mb} MiB allowed.")
    if not data:
        raise EmptyDocument("The file is empty.")
    return data


def _verify(data: bytes, *, etsi_report: bool = False) -> VerificationReport:
    """In the anonymous callers' own pool: 503 + Retry-After at once when it (or this client's share) is full."""
    return verify(data, settings(), client=request.remote_addr or "unknown", etsi_report=etsi_report)


def _api_format() -> str | None:
    """The XML media type to answer with, or None for JSON (``?format=`` wins over ``Accept``)."""
    wanted = request.args.get("format")
    if wanted is not None:
        if wanted.lower() in {"etsi", "xml"}:
            return ETSI_MEDIA_TYPE
        if wanted.lower() == "json":
            return None
        raise InvalidInput(f"Unknown report format {wanted!r}: use format=json or format=etsi.")
    best = request.accept_mimetypes.best_match(["application/json", *XML_TYPES], default="application/json")
    return best if best in XML_TYPES else None


def _xml_response(xml: bytes, media_type: str) -> Response:
    response = Response(xml, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{ETSI_FILENAME}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/v1/verify")
def api_verify() -> Response:
    """The JSON report of design.md, or the ETSI XML report; 400/413/415/429 as application/problem+json."""
    try:
        _limit()
        xml_type = _api_format()
        report = _verify(_upload(), etsi_report=xml_type is not None)
        if xml_type is not None:
            return _xml_response(etsi_xml(report), xml_type)
    except DocsignError as exc:
        return problem_for(exc)
    response = jsonify(report.to_dict())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/verify")
def page() -> str:
    return render_template("verify.html", report=None, error=None, filename=None)


@bp.post("/verify")
def page_verify() -> Any:
    """The verdicts as a page; with the form's ``format=etsi`` button, the ETSI XML report as a download."""
    filename = None
    upload = request.files.get("file")
    if upload is not None:
        filename = upload.filename
    wants_etsi = request.form.get("format") == "etsi"
    try:
        _limit()
        report = _verify(_upload(), etsi_report=True)
        if wants_etsi:
            return _xml_response(etsi_xml(report), ETSI_MEDIA_TYPE)
    except DocsignError as exc:
        response = current_app.make_response(
            (render_template("verify.html", report=None, error=exc, filename=filename), exc.http_status))
        if getattr(exc, "retry_after", None) is not None:  # rate limit (429), busy verifier (503)
            response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
        return response
    json_report = base64.b64encode(_json_bytes(report)).decode()
    etsi_report = base64.b64encode(report.etsi_xml).decode() if report.etsi_xml else None
    return render_template("verify.html", report=report, views=signature_views(report), error=None,
                           filename=filename, json_report=json_report, etsi_report=etsi_report)


def _json_bytes(report: VerificationReport) -> bytes:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2).encode()
