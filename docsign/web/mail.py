"""Send an issued PDF by signed e-mail from its document page (to a unit that is on no exchange)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from docsign.documents import service as document_service
from docsign.errors import DocsignError
from docsign.mail import service as mail_service
from docsign.web.context import db, settings
from docsign.web.documents import actor

bp = Blueprint("mail", __name__)


@bp.app_context_processor
def _mail_on() -> dict[str, Any]:
    return {"mail_on": mail_service.mail_enabled(settings())}


@bp.post("/documents/<int:document_id>/mail")
@login_required
def mail_document(document_id: int) -> Response:
    me = actor()
    session = db()
    try:
        document = document_service.get_document(session, me, document_id)  # other agencies' documents: 404
        document_service.require(me, document_service.Action.SEND)
        row = mail_service.mail_document(session, settings(), document, [request.form.get("to", "")],
                                         actor=me.audit_name, note=request.form.get("note"))
    except DocsignError as exc:
        session.rollback()
        if exc.http_status == 404:
            raise
        flash(_("Không gửi được e-mail: %(message)s", message=exc.message), "error")
        return redirect(url_for("documents.show", document_id=document_id), 303)
    session.commit()
    flash(_("Đã xếp hàng thư ký số tới %(recipients)s.", recipients=row.recipients), "ok")
    return redirect(url_for("documents.show", document_id=document_id), 303)
