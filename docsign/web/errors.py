"""Errors become one response each: problem+json under /api, a friendly page elsewhere."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from docsign.errors import DocsignError


def problem(status: int, title: str, detail: str, code: str) -> Response:
    response = jsonify({"type": f"https://docsign.invalid/problems/{code}", "title": title, "status": status,
                        "detail": detail})
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def problem_for(exc: DocsignError) -> Response:
    response = problem(exc.http_status, exc.title, exc.message, exc.code)
    retry_after = getattr(exc, "retry_after", None)  # rate limits say when to come back
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/problem+json"


def init_app(app: Flask) -> None:
    @app.errorhandler(DocsignError)
    def _docsign_error(exc: DocsignError):  # type: ignore[no-untyped-def]
        if _wants_problem_json():
            return problem_for(exc)
        return render_template("error.html", status=exc.http_status, title=exc.title,
                               detail=exc.message), exc.http_status

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):  # type: ignore[no-untyped-def]
        # Flask-Limiter adds Retry-After and the X-RateLimit-* headers to this response.
        detail = f"Too many requests from your address (limit: {exc.description}); try again later."
        if _wants_problem_json():
            return problem(429, "Too many requests", detail, "rate_limited")
        return render_template("error.html", status=429, title="Too many requests", detail=detail), 429

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        detail = exc.description or exc.name
        if status == 413:
            detail = "the upload is larger than DOCSIGN_MAX_UPLOAD_MB allows"
        if _wants_problem_json():
            return problem(status, exc.name, detail, code)
        return render_template("error.html", status=status, title=exc.name, detail=detail), status
