"""Pages of the registers: the arrivals register (sổ đăng ký văn bản đến) and the outgoing register (sổ
đăng ký văn bản đi) of the person's agency, filtered by dates, exported as CSV, XLSX or a printable PDF.
Views read the query, call :mod:`docsign.documents.register` and :mod:`docsign.documents.service`, render."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from docsign.documents import export, register
from docsign.documents import service as document_service
from docsign.documents.service import Action
from docsign.errors import InvalidInput, NotFound
from docsign.models import Agency
from docsign.web import api
from docsign.web.context import db, settings
from docsign.web.documents import actor

bp = Blueprint("registers", __name__)


def _date(name: str) -> dt.date | None:
    value = (request.args.get(name) or request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _period() -> tuple[dt.date | None, dt.date | None]:
    return _date("from"), _date("to")


def _agency_name() -> str:
    agency = db().get(Agency, actor().agency_id)
    return agency.name if agency else ""


@bp.get("/registers/arrivals")
@login_required
def arrivals() -> Any:
    me = actor()
    try:
        start, end = _period()
        entries = register.arrivals(db(), me.agency_id, start, end)
    except InvalidInput as exc:
        flash(_("Khoảng thời gian không hợp lệ: %(message)s", message=exc.message), "error")
        return render_template("register_arrivals.html", entries=[], start=None, end=None,
                               can_assign=False), 400
    return render_template("register_arrivals.html", entries=entries, start=start, end=end,
                           can_assign=document_service.can(me, Action.ASSIGN))


@bp.get("/registers/outgoing")
@login_required
def outgoing() -> Any:
    me = actor()
    try:
        start, end = _period()
        entries = register.outgoing(db(), me.agency_id, start, end)
    except InvalidInput as exc:
        flash(_("Khoảng thời gian không hợp lệ: %(message)s", message=exc.message), "error")
        return render_template("register_outgoing.html", entries=[], start=None, end=None, paper={},
                               can_paper=False), 400
    from docsign.reports.service import paper_sendings

    return render_template("register_outgoing.html", entries=entries, start=start, end=end,
                           paper=paper_sendings(db(), me.agency_id, [e.id for e in entries]),
                           can_paper=document_service.can(me, Action.SEND))


@bp.get("/registers/<which>.<fmt>")
@login_required
def download(which: str, fmt: str) -> Response:
    if which not in ("arrivals", "outgoing") or fmt not in export.FORMATS:
        raise NotFound(f"no register export {which}.{fmt}")
    me = actor()
    start, end = _period()
    if which == "arrivals":
        table = export.arrivals_table(register.arrivals(db(), me.agency_id, start, end), _agency_name(), start, end)
    else:
        table = export.outgoing_table(register.outgoing(db(), me.agency_id, start, end), _agency_name(), start, end)
    data = export.render(table, fmt)
    span = "-".join(f"{d:%Y%m%d}" for d in (start, end) if d) or "all"
    name = f"so-van-ban-{'den' if which == 'arrivals' else 'di'}-{me.agency_code}-{span}.{fmt}"
    response = send_file(io.BytesIO(data), mimetype=export.MEDIA_TYPES[fmt], as_attachment=True,
                         download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/registers/arrivals/<int:entry_id>")
@login_required
def assign(entry_id: int) -> Response:
    session = db()
    try:
        document_service.assign_handling(session, actor(), entry_id, handling_unit=request.form.get("handling_unit"),
                                         due_date=_date("due_date"))
    except InvalidInput as exc:
        session.rollback()
        flash(_("Chưa ghi được: %(message)s", message=exc.message), "error")
    else:
        session.commit()
        flash(_("Đã ghi đơn vị xử lý và thời hạn."), "ok")
    return redirect(url_for("registers.arrivals", **{k: v for k, v in request.args.items() if k in ("from", "to")}),
                    303)


@bp.post("/documents/<int:document_id>/arrival-stamp")
@login_required
def arrival_stamp(document_id: int) -> Response:
    """The optional "ĐẾN" stamp (role income) with the register's arrival number and date."""
    from docsign.documents.errors import SigningRefused
    from docsign.errors import Conflict

    session = db()
    me = actor()
    try:
        document_service.stamp_arrival(session, settings(), me, document_id,
                                       level=request.form.get("level", "B-T"))
    except (SigningRefused, Conflict, InvalidInput) as exc:
        session.rollback()
        document_service.record_refusal(session, me, "income", document_id, exc)
        session.commit()
        flash(_("Chưa đóng dấu đến được: %(message)s", message=exc.message), "error")
    else:
        session.commit()
        flash(_("Đã ký số văn bản đến với số đến và ngày đến."), "ok")
    return redirect(url_for("documents.show", document_id=document_id), 303)


# -- the agency API (/api/v1, bearer token): kept here beside the pages, mounted on the API's blueprint --

@api.bp.get("/register/arrivals")
@api.token_required
def api_arrivals() -> Response:
    """The token's agency's arrivals register: JSON, or ``?format=csv|xlsx|pdf``; ``?from=&to=`` (YYYY-MM-DD)."""
    from flask import g, jsonify

    start, end = _period()
    entries = register.arrivals(db(), g.agency.id, start, end)
    fmt = request.args.get("format", "json")
    if fmt == "json":
        return jsonify([_arrival_json(e) for e in entries])
    if fmt not in export.FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use json, csv, xlsx or pdf")
    data = export.render(export.arrivals_table(entries, g.agency.name, start, end), fmt)
    return Response(data, mimetype=export.MEDIA_TYPES[fmt])


def _arrival_json(entry: Any) -> dict[str, Any]:
    return {"id": entry.id, "arrival_number": entry.number, "arrival_date": entry.arrived_on.isoformat(),
            "issuer": {"code": entry.issuer_code, "name": entry.issuer_name},
            "code_number": entry.code_number, "code_notation": entry.code_notation,
            "date": entry.issued_on.isoformat() if entry.issued_on else None, "type_name": entry.type_name,
            "subject": entry.subject, "document_id": entry.edxml_document_id, "handling_unit": entry.handling_unit,
            "due_date": entry.due_date.isoformat() if entry.due_date else None,
            "duplicate_of": entry.duplicate_of.number if entry.duplicate_of else None,
            "inbox_document_id": entry.document_id}
