"""Logins for people (Flask-Login sessions) and the identity the views see."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask_login import LoginManager, UserMixin
from sqlalchemy import select

from docsign.models import User
from docsign.web.context import db

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
    user = db().scalar(select(User).where(User.id == int(user_id), User.active.is_(True)))
    return _snapshot(user) if user else None


def snapshot(user: User) -> CurrentUser:
    return _snapshot(user)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "ui.login"
    login_manager.login_message = "Vui lòng đăng nhập để tiếp tục. / Please log in to continue."
