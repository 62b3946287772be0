"""The public page of a one-stop-shop result, opened from the QR code in its seal: ``/verify/d/<token>``.

No login. The page verifies the issued PDF (:func:`docsign.verification.verify`, in the anonymous
callers' bounded pool) and shows the verdict, the issuing agency and the issue time; the PDF is offered
for download only when the agency made it public; otherwise the citizen uploads the copy they hold and
sees whether it is the same document (:func:`docsign.documents.citizen.compare`) and its verification.
Every request counts against the public verifier's per-IP rate limit (:mod:`docsign.web.limiter`). An
unknown token and a download the agency did not allow get one and the same 404 (:class:`ResultNotFound`).
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, current_app, render_template, send_file
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from docsign.documents import citizen
from docsign.documents.service import SignatureCheck
from docsign.errors import DocsignError
from docsign.verification.render import signature_views
from docsign.web import verify as public_verify
from docsign.web.context import db, settings

bp = Blueprint("citizen", __name__)


@bp.record_once
def _exempt_from_csrf(state: BlueprintSetupState) -> None:
    # Anonymous and keeps nothing (like /verify): no session state a forged request could abuse.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def _error_page(exc: DocsignError) -> Response:
    """The same body for the same error, whatever was asked: nothing of the token is echoed."""
    response = current_app.make_response((render_template("citizen_missing.html", error=exc), exc.http_status))
    if getattr(exc, "retry_after", None) is not None:
        response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
    response.headers["Cache-Control"] = "no-store"
    return response


def _check(data: bytes) -> SignatureCheck:
    try:
        return SignatureCheck(public_verify._verify(data))
    except DocsignError as exc:
        if exc.retryable:
            raise
        return SignatureCheck(None, exc.message)


def _page(token: str, *, upload: bool) -> Any:
    try:
        document = citizen.find(db(), token)
        issued = citizen.issued_revision(document)
        issued_pdf = citizen.issued_bytes(settings(), document)
        check = _check(issued_pdf)
        comparison = copy_check = None
        if upload:
            data = public_verify._upload()
            copy_check = _check(data)
            comparison = citizen.compare(document, data, issued_pdf, check.report, copy_check.report)
    except DocsignError as exc:
        return _error_page(exc)
    response = current_app.make_response(render_template(
        "citizen_result.html", token=token, document=document, issued=issued, check=check,
        views=signature_views(check.report) if check.report else [], comparison=comparison, copy_check=copy_check,
        copy_views=signature_views(copy_check.report) if copy_check and copy_check.report else []))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


@bp.get("/verify/d/<token>")
def result(token: str) -> Any:
    return _page(token, upload=False)


@bp.post("/verify/d/<token>")
def compare_copy(token: str) -> Any:
    return _page(token, upload=True)


@bp.get("/verify/d/<token>/pdf")
def download(token: str) -> Any:
    try:
        document, data = citizen.public_pdf(db(), settings(), token)
    except DocsignError as exc:
        return _error_page(exc)
    stem = f"{document.code_number}-{document.code_notation}" if document.code_number else f"ket-qua-{document.id}"
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                         download_name=f"{stem}.pdf")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
