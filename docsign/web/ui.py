"""Pages for people: landing, login, the clerk's dashboard."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from docsign import accounts, audit
from docsign.documents import service as document_service
from docsign.errors import AuthenticationRequired
from docsign.models import Agency, KeyRef
from docsign.web import documents
from docsign.web.auth import snapshot
from docsign.web.context import db
from docsign.web.i18n import t

bp = Blueprint("ui", __name__)


class LoginForm(FlaskForm):
    login = StringField("login", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return render_template("index.html")


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    form = LoginForm()
    if form.validate_on_submit():
        session = db()
        try:
            user = accounts.authenticate(session, form.login.data or "", form.password.data or "")
        except AuthenticationRequired:
            audit.record(session, "anonymous", "login.failed", details={"login": (form.login.data or "")[:64]})
            session.commit()
            flash(t("Sai tên đăng nhập hoặc mật khẩu.", "Wrong login or password."), "error")
            return render_template("login.html", form=form), 401
        audit.record(session, f"user:{user.login}", "login", agency_id=user.agency_id)
        session.commit()
        login_user(snapshot(user))
        target = request.args.get("next", "")
        # Only same-site relative targets: an open redirect would help phishing.
        if not target.startswith("/") or target.startswith("//"):
            target = url_for("ui.dashboard")
        return redirect(target)
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    logout_user()
    return redirect(url_for("ui.index"))


@bp.get("/dashboard")
@login_required
def dashboard():  # type: ignore[no-untyped-def]
    session = db()
    agency = session.get(Agency, current_user.agency_id)
    keys = session.scalars(select(KeyRef).where(
        (KeyRef.agency_id == current_user.agency_id) | (KeyRef.user_id == current_user.id))).all()
    return render_template("dashboard.html", agency=agency, keys=keys,
                           counts=document_service.counts(session, documents.actor()))
