"""WSGI entry for the verification benchmark: the app factory plus the verify blueprint."""

from __future__ import annotations

from docsign.web import verify
from docsign.web.app import create_app

app = create_app()
if "verify" not in app.blueprints:
    app.register_blueprint(verify.bp)
