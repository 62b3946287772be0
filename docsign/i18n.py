"""The texts people read: Vietnamese is the source language, other languages are gettext catalogues.

The msgids are the Vietnamese texts; ``docsign/translations/<lang>/LC_MESSAGES/messages.po`` holds a
translation (English today). The web layer translates with Flask-Babel (``docsign.web.i18n``); domain code,
which does not import Flask, marks the texts the UI shows with :func:`N_` (pybabel extracts it by default)
and the web layer translates them where they are shown. Code that needs the English text outside a request
(status packets carry ``"Đã tiếp nhận / Accepted"``) asks :func:`english`, so the catalogue is the one place
the English lives.

The compiled ``.mo`` files are build products, not committed: :func:`compile_catalogues` writes each one
next to its ``.po`` when it is missing or older, so a clean clone and an updated ``.po`` both just work.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "messages"
SOURCE_LANGUAGE = "vi"

log = logging.getLogger(__name__)


def N_(text: str) -> str:  # gettext's conventional name, one of the keywords pybabel extracts
    """Marks a Vietnamese text for the catalogue; it is translated where it is shown."""
    return text


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older; returns the ``.mo`` files written."""
    written = []
    for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        # Several processes (gunicorn workers, test workers) may start at once: write aside, then rename.
        partial = mo.with_name(f".{mo.name}.{os.getpid()}")
        try:
            with partial.open("wb") as f:
                write_mo(f, catalog)
            partial.replace(mo)
        except OSError as exc:  # a read-only install: use the .mo shipped with it, if any
            log.warning("cannot compile %s: %s", po, exc)
            continue
        written.append(mo)
    return written


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalogue of one language (Vietnamese, the source language, needs none)."""
    compile_catalogues()
    return Translations.load(str(TRANSLATIONS), [language], DOMAIN)


def english(text: str) -> str:
    """The English of a Vietnamese text marked with :func:`N_`, for texts written outside a request."""
    return translations("en").gettext(text)
