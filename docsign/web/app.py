"""The Flask app factory: wires settings, the database session, logins, i18n, errors and blueprints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect

from docsign.config import Settings, load_settings, prepare_data_dir
from docsign.web import api, auth, context, documents, errors, health, i18n, pki, registers, ui, verify

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
    app.extensions[pki.EXTENSION_KEY + ".loader"] = lambda: _load_pki(settings)
    for blueprint in (ui.bp, health.bp, pki.bp, verify.bp, documents.bp, registers.bp, api.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(pki.bp)  # protocol endpoints (OCSP, TSA) take binary POSTs from other programs
    _check_verification_speedups(app)
    return app


def _check_verification_speedups(app: Flask) -> None:
    """Say at start-up when the installed pyHanko is not one the verifier's speedups were made for."""
    from docsign.verification import speedups

    speedups.log_startup_check(app.logger)


def _load_pki(settings: Settings):  # type: ignore[no-untyped-def]
    from docsign.pki import demo

    if not demo.demo_pki_exists(settings):
        return None
    logging.getLogger(__name__).info("serving the demo PKI's CRL, OCSP and TSA under /pki")
    return demo.load_demo_pki(settings)
