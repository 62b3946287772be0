"""Pages for the people of the exchange: outgoing documents (upload, approve, issue, send), the inbox
(văn bản đến) and sent documents (văn bản đi). Views read the form, call
:mod:`docsign.documents.service`, commit, and render; the service scopes and authorises everything.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from docsign.documents import citizen, register
from docsign.documents import service as document_service
from docsign.documents.errors import SigningRefused, WrongStage
from docsign.documents.service import Action, Actor, Stage
from docsign.errors import Conflict, DocsignError, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from docsign.exchange.send import packet_fields
from docsign.exchange.statuses import DeliveryState, Party, StatusCode
from docsign.i18n import N_
from docsign.models import Delivery
from docsign.verification.render import signature_views
from docsign.web.context import db, settings

bp = Blueprint("documents", __name__)

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
DEFAULT_LEVEL = "B-T"
BUTTONS = {
    StatusCode.REJECTED: N_("Trả lại (02)"),
    StatusCode.ACCEPTED: N_("Tiếp nhận (03)"),
    StatusCode.ASSIGNED: N_("Phân công xử lý (04)"),
    StatusCode.PROCESSING: N_("Đang xử lý (05)"),
    StatusCode.FINISHED: N_("Hoàn thành (06)"),
    StatusCode.RECALL_REQUESTED: N_("Thu hồi (13)"),
    StatusCode.RECALL_AGREED: N_("Đồng ý thu hồi (15)"),
    StatusCode.RECALL_REFUSED: N_("Từ chối thu hồi (16)"),
}


def actor() -> Actor:
    user = current_user
    return Actor(user_id=user.id, login=user.login, full_name=user.full_name, role=user.role,
                 agency_id=user.agency_id, agency_code=user.agency_code, position=user.position)


def state_label(state: str) -> str:
    return _(DeliveryState(state).label_vi)


def status_label(code: str | None) -> str:
    if not code:
        return "—"
    status = StatusCode(code)
    return f"{status.value} · {_(status.label_vi)}"


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"state_label": state_label, "status_label": status_label, "button_label": _button_label,
            "stage_label": lambda stage: _(stage.label_vi)}


def _button_label(code: StatusCode) -> str:
    return _(BUTTONS[code])


def _fail(message: str, exc: DocsignError) -> None:
    """Flash a translated ``message`` with the error's own."""
    flash(f"{message}: {exc.message}", "error")


# -- outgoing documents -------------------------------------------------------------------------------

@bp.get("/documents")
@login_required
def index() -> str:
    me = actor()
    rows = document_service.list_documents(db(), me)
    groups = [(stage, [r for r in rows if r.stage is stage])
              for stage in (Stage.DRAFT, Stage.APPROVED, Stage.ISSUED, Stage.SENT)]
    return render_template("documents.html", groups=groups, can_upload=document_service.can(me, Action.UPLOAD))


@bp.route("/documents/new", methods=["GET", "POST"])
@login_required
def upload() -> Any:
    me = actor()
    document_service.require(me, Action.UPLOAD)
    if request.method == "GET":
        return render_template("documents_new.html", form={}, max_mb=settings().max_upload_mb)
    form = request.form
    upload_file = request.files.get("file")
    session = db()
    try:
        if upload_file is None or not upload_file.filename:
            raise InvalidInput("choose the PDF file of the document")
        document = document_service.upload_document(
            session, settings(), me, upload_file.stream, title=form.get("title", ""),
            document_type=form.get("document_type"), notation=form.get("notation"), file_name=upload_file.filename)
    except (InvalidInput, PayloadTooLarge, UnsupportedMediaType) as exc:
        session.rollback()
        if isinstance(exc, PayloadTooLarge):
            _fail(_("Tệp quá lớn"), exc)
        elif isinstance(exc, UnsupportedMediaType):
            _fail(_("Tệp không phải PDF"), exc)
        else:
            _fail(_("Chưa tải lên được"), exc)
        return render_template("documents_new.html", form=form, max_mb=settings().max_upload_mb), exc.http_status
    session.commit()
    flash(_("Đã tải lên dự thảo, chờ lãnh đạo ký duyệt."),
          "ok")
    return redirect(url_for("documents.show", document_id=document.id), 303)


@bp.get("/documents/<int:document_id>")
@login_required
def show(document_id: int) -> Any:
    me = actor()
    session = db()
    document = document_service.get_document(session, me, document_id)
    incoming = document_service.incoming_for_document(session, me, document)
    if incoming is not None:
        return redirect(url_for("documents.incoming", delivery_id=incoming.id))
    stage = document_service.document_stage(session, document)
    exchange = document_service.exchange_of(session, document)
    check = document_service.check_signatures(session, settings(), me, document.id)
    return render_template(
        "documents_detail.html", document=document, stage=stage, exchange=exchange, check=check,
        views=signature_views(check.report) if check.report else [],
        signatures=document_service.signatures_of(session, document),
        can_approve=stage is Stage.DRAFT and document_service.can(me, Action.APPROVE),
        can_issue=stage is Stage.APPROVED and document_service.can(me, Action.ISSUE),
        can_send=stage is Stage.ISSUED and document_service.can(me, Action.SEND),
        next_number=document_service.suggest_number(session, me) if stage is Stage.APPROVED else None,
        recipients=document_service.recipients_for(session, me) if stage is Stage.ISSUED else [],
        levels=LEVELS, default_level=DEFAULT_LEVEL,
        citizen_url=citizen.verify_url(settings(), document.citizen_token) if document.citizen_token else None,
        can_publish=document_service.can(me, Action.ISSUE))


@bp.get("/documents/<int:document_id>/download")
@login_required
def download(document_id: int) -> Response:
    number = request.args.get("revision", type=int)
    session = db()
    document, revision, data = document_service.open_revision(session, settings(), actor(), document_id, number)
    session.commit()
    stem = f"{document.code_number}-{document.code_notation}" if document.code_number else f"van-ban-{document.id}"
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                         download_name=f"{stem}-r{revision.number}.pdf")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _revision_field() -> int | None:
    value = request.form.get("revision", "")
    return int(value) if value.isdigit() else None


def _refused(action: str, document_id: int, exc: DocsignError) -> Response:
    """Roll back, audit the refusal, and show the document again with the reason."""
    session = db()
    session.rollback()
    document_service.record_refusal(session, actor(), action, document_id, exc)
    session.commit()
    what = {"approve": N_("Không ký duyệt được"), "issue": N_("Không phát hành được"),
            "send": N_("Không gửi được")}[action]
    _fail(_(what), exc)
    return redirect(url_for("documents.show", document_id=document_id), 303)


@bp.post("/documents/<int:document_id>/approve")
@login_required
def approve(document_id: int) -> Response:
    session = db()
    try:
        signature = document_service.approve_document(
            session, settings(), actor(), document_id, level=request.form.get("level", DEFAULT_LEVEL),
            signing_prefix=request.form.get("signing_prefix"), expected_revision=_revision_field())
    except (SigningRefused, Conflict, InvalidInput) as exc:
        return _refused("approve", document_id, exc)
    session.commit()
    flash(_("Đã ký duyệt. Văn thư có thể phát hành văn bản."), "ok")
    for warning in getattr(signature, "warnings", ()):
        flash(_("Lưu ý") + f": {warning}", "error")
    return redirect(url_for("documents.show", document_id=document_id), 303)


@bp.post("/documents/<int:document_id>/issue")
@login_required
def issue(document_id: int) -> Response:
    session = db()
    try:
        document_service.issue_document(
            session, settings(), actor(), document_id, number=request.form.get("number", ""),
            notation=request.form.get("notation", ""), level=request.form.get("level", DEFAULT_LEVEL),
            book=request.form.get("book"), expected_revision=_revision_field(),
            citizen_result=request.form.get("citizen_result") == "1")
    except (SigningRefused, Conflict, InvalidInput) as exc:
        return _refused("issue", document_id, exc)
    session.commit()
    flash(_("Đã ký phát hành. Văn bản sẵn sàng để gửi."), "ok")
    return redirect(url_for("documents.show", document_id=document_id), 303)


@bp.post("/documents/<int:document_id>/send")
@login_required
def send(document_id: int) -> Response:
    session = db()
    try:
        form = request.form
        exchange = document_service.send_document(
            session, settings(), actor(), document_id, form.getlist("to"),
            priority=form.get("priority", 0, type=int),
            packet_fields=packet_fields(content=form.get("content"), due_date=form.get("due_date"),
                                        steering_type=form.get("steering_type"), to_places=form.get("to_places")))
    except (Conflict, InvalidInput) as exc:
        return _refused("send", document_id, exc)
    session.commit()
    flash(_("Đã gửi. Theo dõi trạng thái của từng nơi nhận ở đây."), "ok")
    return redirect(url_for("documents.sent_detail", exchange_id=exchange.id), 303)


@bp.post("/documents/<int:document_id>/citizen-public")
@login_required
def citizen_public(document_id: int) -> Response:
    """The clerk makes a one-stop-shop result downloadable from its public page, or stops it."""
    session = db()
    public = request.form.get("public") == "1"
    try:
        document_service.set_citizen_public(session, actor(), document_id, public)
    except WrongStage as exc:
        session.rollback()
        _fail(_("Không thay đổi được"), exc)
        return redirect(url_for("documents.show", document_id=document_id), 303)
    session.commit()
    flash(_("Công dân có thể tải văn bản từ trang tra cứu.")
          if public else _("Đã thôi công khai văn bản."), "ok")
    return redirect(url_for("documents.show", document_id=document_id), 303)


# -- the exchange ---------------------------------------------------------------------------------------

@bp.get("/inbox")
@login_required
def inbox() -> str:
    deliveries = document_service.inbox(db(), actor())
    arrivals = register.arrivals_of(db(), [d.inbox_document.id for d in deliveries if d.inbox_document])
    return render_template("inbox.html", deliveries=deliveries, arrivals=arrivals)


@bp.get("/inbox/<int:delivery_id>")
@login_required
def incoming(delivery_id: int) -> str:
    me = actor()
    session = db()
    delivery = document_service.get_incoming(session, me, delivery_id)
    document = delivery.inbox_document
    check = document_service.check_signatures(session, settings(), me, document.id) if document else None
    arrival = register.arrival_of(session, document.id) if document else None
    stamped = document is not None and any(r.action == "income" for r in document.revisions)
    return render_template("inbox_detail.html", delivery=delivery, exchange=delivery.exchange, document=document,
                           check=check, views=signature_views(check.report) if check and check.report else [],
                           choices=document_service.status_choices(me, delivery), arrival=arrival,
                           can_stamp=arrival is not None and arrival.number is not None and not stamped
                           and document_service.can(me, Action.REGISTER), levels=LEVELS, default_level=DEFAULT_LEVEL)


@bp.get("/sent")
@login_required
def sent() -> str:
    return render_template("sent.html", exchanges=document_service.sent_exchanges(db(), actor()))


@bp.get("/sent/<exchange_id>")
@login_required
def sent_detail(exchange_id: str) -> str:
    me = actor()
    exchange = document_service.get_sent(db(), me, exchange_id)
    choices = {d.id: document_service.status_choices(me, d) for d in exchange.deliveries}
    return render_template("sent_detail.html", exchange=exchange, choices=choices)


@bp.post("/deliveries/<int:delivery_id>/status")
@login_required
def change_status(delivery_id: int) -> Response:
    me = actor()
    session = db()
    code = request.form.get("code", "")
    try:
        document_service.change_status(session, settings(), me, delivery_id, code, note=request.form.get("note"))
    except (Conflict, InvalidInput) as exc:
        session.rollback()
        _fail(_("Không cập nhật được trạng thái"), exc)
    else:
        session.commit()
        flash(_("Đã cập nhật trạng thái") + f": {status_label(StatusCode.parse(code).value)}", "ok")
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        abort(404)
    if document_service.party_of(me, delivery) is Party.SENDER:
        return redirect(url_for("documents.sent_detail", exchange_id=delivery.exchange_id), 303)
    return redirect(url_for("documents.incoming", delivery_id=delivery_id), 303)
