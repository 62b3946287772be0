"""Pages for people: landing, login, the clerk's dashboard."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from docsign import accounts, audit
from docsign.documents import service as document_service
from docsign.errors import AuthenticationRequired, TooManyAttempts
from docsign.models import Agency, KeyRef
from docsign.web import auth, documents
from docsign.web.context import db

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
            user = accounts.authenticate(session, form.login.data or "", form.password.data or "",
                                         client=request.remote_addr)
        except TooManyAttempts as exc:
            flash(_("Đăng nhập sai quá nhiều lần; hãy thử lại sau %(retry_after)s giây.",
                    retry_after=exc.retry_after), "error")
            return render_template("login.html", form=form), 429, {"Retry-After": str(exc.retry_after)}
        except AuthenticationRequired:
            audit.record(session, "anonymous", "login.failed", details={"login": (form.login.data or "")[:64]})
            session.commit()  # with the failure counts of the back-off
            flash(_("Sai tên đăng nhập hoặc mật khẩu."), "error")
            return render_template("login.html", form=form), 401
        version = accounts.start_session(session, user)
        audit.record(session, f"user:{user.login}", "login", agency_id=user.agency_id)
        session.commit()
        auth.start(user, version)
        return redirect(safe_next(request.args.get("next", "")) or url_for("ui.dashboard"))
    return render_template("login.html", form=form)


def safe_next(target: str) -> str | None:
    r"""``target`` when it is a path of this site, else None: an open redirect would help phishing.

    Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so ``/<TAB>/evil.example``
    or ``/\evil.example`` would leave the site: control characters are removed first, and the result must
    be a plain path (no scheme, no host, no backslash, not ``//``)."""
    cleaned = "".join(c for c in target if unicodedata.category(c) not in {"Cc", "Cf", "Zl", "Zp"}).strip()
    if not cleaned.startswith("/") or cleaned.startswith("//") or "\\" in cleaned:
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return None
    return cleaned


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    session = db()
    accounts.end_sessions(session, current_user.id)
    audit.record(session, f"user:{current_user.login}", "logout", agency_id=current_user.agency_id)
    session.commit()
    auth.end()
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
