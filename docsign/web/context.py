"""Per-request access to the settings and a database session (closed after the request)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from docsign.config import Settings
from docsign.db import session_factory

SETTINGS_KEY = "docsign.settings"


def settings() -> Settings:
    return current_app.extensions[SETTINGS_KEY]


def db() -> Session:
    if "db" not in g:
        g.db = session_factory(settings().database_url)()
    return g.db


def init_app(app: Flask, app_settings: Settings) -> None:
    app.extensions[SETTINGS_KEY] = app_settings

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()
