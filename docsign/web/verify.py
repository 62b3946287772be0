"""Public verification: the page ``/verify`` (no login) and ``POST /api/v1/verify``.

Views only read the upload, call the domain (``docsign.verification``) through the bounded
sandbox, and render; nothing an anonymous user uploads is written anywhere.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState

from docsign.config import Settings, load_settings
from docsign.errors import DocsignError
from docsign.pki.trust import default_trust_store
from docsign.verification.errors import DocumentTooLarge, EmptyDocument, NotAPdf
from docsign.verification.render import signature_views
from docsign.verification.report import VerificationReport
from docsign.verification.sandbox import verify_bounded

bp = Blueprint("verify", __name__)
SETTINGS_KEY = "docsign.settings"
PDF_TYPES = {"application/pdf", "application/x-pdf", "application/octet-stream"}


@bp.record_once
def _exempt_from_csrf(state: BlueprintSetupState) -> None:
    # Anonymous, read-only, keeps nothing: there is no session state a forged request could abuse.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def _settings() -> Settings:
    settings = current_app.extensions.get(SETTINGS_KEY)
    if settings is None:
        settings = current_app.extensions[SETTINGS_KEY] = load_settings()
    return settings  # type: ignore[no-any-return]


def _upload() -> bytes:
    """The uploaded PDF (multipart field ``file`` or a raw application/pdf body), size-checked."""
    limit = _settings().max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 1024 * 1024:
        raise DocumentTooLarge(f"The file is larger than the {_settings().max_upload_mb} MiB allowed.")
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
        raise DocumentTooLarge(f"The file is larger than the {_settings().max_upload_mb} MiB allowed.")
    if not data:
        raise EmptyDocument("The file is empty.")
    return data


def _verify(data: bytes) -> VerificationReport:
    roots = default_trust_store(_settings()).roots()
    return verify_bounded(data, roots)


def _problem(exc: DocsignError) -> Response:
    response = jsonify({"type": f"https://docsign.invalid/problems/{exc.code}", "title": exc.title,
                        "status": exc.http_status, "detail": exc.message})
    response.status_code = exc.http_status
    response.mimetype = "application/problem+json"
    return response


@bp.post("/api/v1/verify")
def api_verify() -> Response:
    """The JSON report of design.md; 400/413/415 as application/problem+json."""
    try:
        report = _verify(_upload())
    except DocsignError as exc:
        return _problem(exc)
    response = jsonify(report.to_dict())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/verify")
def page() -> str:
    return render_template("verify.html", report=None, error=None, filename=None)


@bp.post("/verify")
def page_verify() -> Any:
    filename = None
    upload = request.files.get("file")
    if upload is not None:
        filename = upload.filename
    try:
        data = _upload()
        report = _verify(data)
    except DocsignError as exc:
        return render_template("verify.html", report=None, error=exc, filename=filename), exc.http_status
    json_report = base64.b64encode(_json_bytes(report)).decode()
    return render_template("verify.html", report=report, views=signature_views(report), error=None,
                           filename=filename, json_report=json_report)


def _json_bytes(report: VerificationReport) -> bytes:
    import json

    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2).encode()
