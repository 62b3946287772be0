"""Vietnamese first, English on request (``?lang=en``, remembered in the session); times in +07:00."""

from __future__ import annotations

import datetime as dt

from flask import Flask, request, session

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")
LANGUAGES = ("vi", "en")


def current_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    return session.get("lang", "vi")


def t(vi: str, en: str) -> str:
    """The text in the reader's language; every visible string is written in both, Vietnamese first."""
    return en if current_language() == "en" else vi


def fmt_time(moment: dt.datetime | None, with_seconds: bool = True) -> str:
    """``HH:MM:SS dd/mm/yyyy (+07:00)``, the way Vietnamese documents show time."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(VN_TZ)
    return local.strftime("%H:%M:%S %d/%m/%Y (+07:00)" if with_seconds else "%H:%M %d/%m/%Y (+07:00)")


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(t=t, fmt_time=fmt_time, current_language=current_language)
