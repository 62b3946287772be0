"""Logins for people (Flask-Login sessions) and the identity the views see.

The session cookie is signed, not stored, so it cannot be taken back by itself: it carries the user's
session version (``users.session_version``) and the login time, and a request counts as logged in only
while the version is still the user's current one (raised at login, logout, password change and
disable) and the login is younger than ``DOCSIGN_SESSION_HOURS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask, session
from flask_babel import gettext
from flask_login import LoginManager, UserMixin, login_user, logout_user
from sqlalchemy import select

from docsign.i18n import N_
from docsign.models import User
from docsign.web.context import db, settings

SESSION_VERSION = "sv"
LOGIN_TIME = "login_at"
KEPT_ON_LOGIN = ("lang",)
"""Session entries that survive logging in and out (everything else starts afresh)."""

login_manager = LoginManager()


@dataclass
class CurrentUser(UserMixin):
    """A detached snapshot of the logged-in user, so views never touch a closed session."""

    id: int
    login: str
    full_name: str
    position: str | None
    role: str
    agency_id: int
    agency_code: str
    agency_name: str

    def get_id(self) -> str:
        return str(self.id)


def _snapshot(user: User) -> CurrentUser:
    return CurrentUser(user.id, user.login, user.full_name, user.position, user.role.value, user.agency_id,
                       user.agency.code, user.agency.name)


@login_manager.user_loader
def _load_user(user_id: str) -> CurrentUser | None:
    if not user_id.isdigit():
        return None
    login_at = session.get(LOGIN_TIME)
    if not isinstance(login_at, int) or time.time() - login_at > settings().session_hours * 3600:
        return None
    user = db().scalar(select(User).where(User.id == int(user_id), User.active.is_(True)))
    if user is None or session.get(SESSION_VERSION) != user.session_version:
        return None
    return _snapshot(user)


def _fresh_session() -> None:
    kept = {key: session[key] for key in KEPT_ON_LOGIN if key in session}
    session.clear()
    session.update(kept)


def start(user: User, session_version: int) -> None:
    """Log ``user`` in with a fresh session (nothing of the anonymous one but the language is kept)."""
    _fresh_session()
    login_user(_snapshot(user))
    session[SESSION_VERSION] = session_version
    session[LOGIN_TIME] = int(time.time())
    session.permanent = True


def end() -> None:
    logout_user()
    _fresh_session()


def snapshot(user: User) -> CurrentUser:
    return _snapshot(user)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "ui.login"
    login_manager.login_message = N_("Vui lòng đăng nhập để tiếp tục.")
    login_manager.localize_callback = gettext  # translated when flashed, in the visitor's language
