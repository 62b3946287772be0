"""Vietnamese first, English on request (``?lang=en``, remembered in the session); times in +07:00.

Texts are Flask-Babel messages whose msgids are the Vietnamese texts (``_("…")`` in views and templates);
the English is in ``docsign/translations/en/LC_MESSAGES/messages.po`` (see :mod:`docsign.i18n`).
"""

from __future__ import annotations

import datetime as dt

from flask import Flask, request, session
from flask_babel import Babel

from docsign.i18n import DOMAIN, SOURCE_LANGUAGE, TRANSLATIONS, compile_catalogues

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")
LANGUAGES = (SOURCE_LANGUAGE, "en")

babel = Babel()


def current_language() -> str:
    """``?lang=`` if it names a language (and remember it), else the session's choice, else Vietnamese."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    return session.get("lang", SOURCE_LANGUAGE)


def fmt_time(moment: dt.datetime | None, with_seconds: bool = True) -> str:
    """``HH:MM:SS dd/mm/yyyy (+07:00)``, the way Vietnamese documents show time."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(VN_TZ)
    return local.strftime("%H:%M:%S %d/%m/%Y (+07:00)" if with_seconds else "%H:%M %d/%m/%Y (+07:00)")


def init_app(app: Flask) -> None:
    compile_catalogues()
    babel.init_app(app, locale_selector=current_language, default_locale=SOURCE_LANGUAGE,
                   default_domain=DOMAIN, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals.update(fmt_time=fmt_time, current_language=current_language)
