"""The statistics page: the adoption report of the agencies the person may see (their own and those under
it; every agency for an admin), as charts drawn on the server with a table of the same numbers beside each,
and as CSV/XLSX downloads; and the clerk's form that records a paper sending of an outgoing document.
Views read the query, call :mod:`docsign.reports`, render."""

from __future__ import annotations

import base64
import io
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from docsign.documents import register
from docsign.errors import Conflict, InvalidInput, NotFound
from docsign.reports import charts, export
from docsign.reports import service as report_service
from docsign.reports.adoption import AdoptionReport, Period, parse_period, recent_months
from docsign.web.context import db
from docsign.web.documents import actor

bp = Blueprint("reports", __name__)


def _period() -> Period:
    start, end = request.args.get("from"), request.args.get("to")
    if not (start or "").strip() and not (end or "").strip():
        return recent_months(register.today())
    return parse_period(start, end)


def _report() -> AdoptionReport:
    period = _period()  # a bad period is refused (InvalidPeriod, 400) by the app's error handler
    return report_service.adoption_for(db(), actor(), period, request.args.get("agency"))


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{number}/{year}"


def _chart(svg: bytes) -> str:
    """The chart as an <img> source: an SVG image runs no script and needs none of the page's styles."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


@bp.get("/reports/adoption")
@login_required
def adoption() -> Any:
    report = _report()
    months = report.by_month()
    monthly_series = [
        (_("Ký đủ hai chữ ký số"), [f.issued_both for _month, f in months]),
        (_("Nhận điện tử"), [f.received for _month, f in months]),
        (_("Gửi bản giấy"), [f.paper for _month, f in months]),
    ]
    agencies = report.by_agency()
    agency_series = [
        (_("Nhận điện tử"), [f.received for _agency, f in agencies]),
        (_("Vào sổ trong ngày"), [f.registered_same_day for _agency, f in agencies]),
        (_("Từ chối"), [f.rejected for _agency, f in agencies]),
        (_("Trả lời quá hạn"), [f.answered_late for _agency, f in agencies]),
    ]
    month_labels = [_month_label(m) for m, _figures in months]
    monthly_title = _("Văn bản điện tử và văn bản giấy theo tháng")
    agency_title = _("Văn bản đến theo cơ quan")
    monthly = {"title": monthly_title, "labels": month_labels, "series": monthly_series,
               "image": _chart(charts.bar_chart(monthly_title, month_labels, monthly_series))}
    by_agency = {"title": agency_title, "labels": [a.name for a, _figures in agencies], "series": agency_series,
                 "image": _chart(charts.bar_chart(agency_title, [a.name for a, _figures in agencies], agency_series,
                                                  horizontal=True))}
    query = {k: v for k, v in request.args.items() if k in ("from", "to", "agency") and v}
    return render_template("reports_adoption.html", report=report, charts=[monthly, by_agency],
                           month_label=_month_label, query=query,
                           choices=report_service.visible_agencies(db(), actor()))


@bp.get("/reports/adoption.<fmt>")
@login_required
def download(fmt: str) -> Response:
    if fmt not in export.FORMATS:
        raise NotFound(f"no adoption report export .{fmt}: use csv or xlsx")
    report = _report()
    data = export.render(report, fmt)
    name = f"van-ban-dien-tu-{report.period.start:%Y%m%d}-{report.period.end:%Y%m%d}.{fmt}"
    response = send_file(io.BytesIO(data), mimetype=export.MEDIA_TYPES[fmt], as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/registers/outgoing/<int:entry_id>/paper")
@login_required
def paper(entry_id: int) -> Response:
    """The clerk records that a numbered document still went on paper (to one recipient)."""
    import datetime as dt

    session = db()
    try:
        value = (request.form.get("sent_on") or "").strip()
        try:
            sent_on = dt.date.fromisoformat(value) if value else None
        except ValueError:
            raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD)") from None
        report_service.record_paper_sending(session, actor(), entry_id, recipient=request.form.get("recipient"),
                                            sent_on=sent_on, note=request.form.get("note"))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        flash(_("Chưa ghi được: %(message)s", message=exc.message), "error")
    else:
        session.commit()
        flash(_("Đã ghi nhận văn bản gửi bản giấy."), "ok")
    return redirect(url_for("registers.outgoing", **{k: v for k, v in request.args.items() if k in ("from", "to")}),
                    303)
