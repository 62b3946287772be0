from __future__ import annotations

from flask import Blueprint, jsonify

from docsign import __version__
from docsign.health import check_all
from docsign.web.context import settings

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    checks = check_all(settings())
    healthy = all(c.ok for c in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "version": __version__,
            "checks": {part: {"ok": c.ok, "detail": c.detail} for part, c in checks.items()}}
    return jsonify(body), 200 if healthy else 503
