"""Operations: /metrics for Prometheus, a request id and latency per request, and the admins' page with
queue depths, dead letters and a re-drive button."""

from __future__ import annotations

import ipaddress
import time

from flask import Blueprint, Flask, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from docsign import logs, metrics
from docsign.exchange import service as exchange_service
from docsign.web.context import db, settings

bp = Blueprint("ops", __name__)


def _client_is_local() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def prometheus_metrics():  # type: ignore[no-untyped-def]
    """Served to the machine itself (a Prometheus beside docsign, or the TLS proxy's scrape path) and to
    admins; anyone else gets 404, as for a page that does not exist (queue depths name agencies)."""
    if not (_client_is_local() or _is_admin()):
        abort(404)
    s = settings()
    return Response(metrics.render(s.database_url, s), mimetype="text/plain; version=0.0.4; charset=utf-8")


def _is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.role == "admin")


@bp.get("/admin/ops")
@login_required
def ops_page():  # type: ignore[no-untyped-def]
    if not _is_admin():
        abort(403)
    session = db()
    return render_template("ops.html", depths=metrics.queue_depths(session),
                           states=metrics.deliveries_by_state(session),
                           dead=metrics.dead_letters(session, current_user.agency_id))


@bp.post("/admin/ops/redrive")
@login_required
def redrive():  # type: ignore[no-untyped-def]
    """Re-drive the dead letters the admin's agency sent or was sent (those named, or all of them)."""
    if not _is_admin():
        abort(403)
    session = db()
    mine = {d.id for d in metrics.dead_letters(session, current_user.agency_id, limit=10_000)}
    asked = {int(v) for v in request.form.getlist("delivery_id") if v.isdigit()}
    chosen = sorted(asked & mine) if asked else sorted(mine)
    moved = exchange_service.redrive(session, actor=f"user:{current_user.login}", delivery_ids=chosen) if chosen \
        else []
    session.commit()
    flash(_("Đã gửi lại %(count)s văn bản.", count=len(moved)), "ok")
    return redirect(url_for("ops.ops_page"))


def init_app(app: Flask) -> None:
    """A request id for every request (the caller's X-Request-ID when sane), carried into the logs and
    into the Celery tasks the request causes; the latency of every request, by endpoint."""

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = logs.new_request_id(request.headers.get(logs.REQUEST_ID_HEADER))
        g.request_id_token = logs.set_request_id(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.pop("request_started", None)
        if started is not None:
            metrics.REQUEST_SECONDS.labels(request.method, request.endpoint or "unmatched",
                                           str(response.status_code)).observe(time.perf_counter() - started)
        if "request_id" in g:
            response.headers[logs.REQUEST_ID_HEADER] = g.request_id
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.reset_request_id(token)
