"""The Flask app factory: wires settings, the database session, logins, i18n, errors and blueprints."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Flask, Response
from flask_wtf import CSRFProtect

from docsign.config import Settings, load_settings, prepare_data_dir
from docsign.web import (
    api,
    auth,
    citizen,
    context,
    documents,
    errors,
    health,
    i18n,
    limiter,
    mail,
    ops,
    pki,
    registers,
    reports,
    ui,
    verify,
)

csrf = CSRFProtect()


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    settings = settings or load_settings()
    prepare_data_dir(settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # The whole request, multipart overhead included; the per-file limit is checked where files are read.
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_hours),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if test_config:
        app.config.update(test_config)
    context.init_app(app, settings)
    auth.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    ops.init_app(app)
    app.extensions[pki.EXTENSION_KEY + ".loader"] = lambda: _load_pki(settings)
    for blueprint in (ui.bp, health.bp, pki.bp, verify.bp, citizen.bp, documents.bp, registers.bp, reports.bp,
                      mail.bp, api.bp, ops.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(pki.bp)  # protocol endpoints (OCSP, TSA) take binary POSTs from other programs
    limiter.init_app(app, settings)
    app.after_request(_security_headers)
    _check_verification_speedups(app)
    return app


def _check_verification_speedups(app: Flask) -> None:
    """Say at start-up when the installed pyHanko is not one the verifier's speedups were made for."""
    from docsign.verification import speedups

    speedups.log_startup_check(app.logger)


SECURITY_HEADERS = {
    # No scripts at all, styles from the app only, never inside another site's frame.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _load_pki(settings: Settings):  # type: ignore[no-untyped-def]
    from docsign.pki import demo

    if not demo.demo_pki_exists(settings):
        return None
    logging.getLogger(__name__).info("serving the demo PKI's CRL, OCSP and TSA under /pki")
    return demo.load_demo_pki(settings)
