"""``/healthz``: each part's state for anyone (load balancers, monitors), the reasons for admins only.

The probes (a database query, a broker connection, a blob-store write, the key files) run at most
once per CACHE_SECONDS per web process, however often the page is asked for; a probe never decrypts
a key. Error texts name hosts, ports and paths, so an anonymous caller sees only ok/not ok.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, current_app, jsonify
from flask_login import current_user

from docsign import __version__
from docsign.health import Check, check_all
from docsign.models import Role
from docsign.web.context import settings

bp = Blueprint("health", __name__)
CACHE_SECONDS = 5.0
CACHE_KEY = "docsign.health_cache"


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.checked_at = float("-inf")
        self.checks: dict[str, Check] = {}


def _checks() -> dict[str, Check]:
    cache: _Cache = current_app.extensions.setdefault(CACHE_KEY, _Cache())
    with cache.lock:  # one probe at a time; the others wait for it and share its answer
        if time.monotonic() - cache.checked_at >= CACHE_SECONDS:
            cache.checks = check_all(settings())
            cache.checked_at = time.monotonic()
        return cache.checks


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    checks = _checks()
    healthy = all(c.ok for c in checks.values())
    is_admin = current_user.is_authenticated and current_user.role == Role.ADMIN.value
    body = {"status": "ok" if healthy else "unavailable", "version": __version__,
            "checks": {part: ({"ok": c.ok, "detail": c.detail} if is_admin else {"ok": c.ok})
                       for part, c in checks.items()}}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if healthy else 503
