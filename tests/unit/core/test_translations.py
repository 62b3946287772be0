"""The translator's guarantee: every text the code and templates mark (extracted with Babel, as ``make messages``
does) has an English translation in the catalogue, the catalogue is valid, and placeholders match."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from docsign import i18n
from docsign.exchange.statuses import DeliveryState, StatusCode

ROOT = Path(__file__).resolve().parents[3]
PO = ROOT / "docsign/translations/en/LC_MESSAGES/messages.po"


def _catalog():  # type: ignore[no-untyped-def]
    with PO.open("rb") as f:
        return read_po(f)


def test_every_marked_text_has_an_english_translation_with_the_same_placeholders():
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {(context, message if isinstance(message, str) else message[0]): f"{path}:{line}"
             for path, line, message, _comments, context
             in extract_from_dir(str(ROOT), method_map, options_map)}
    assert len(found) > 250  # the templates and the views were read
    catalog = _catalog()
    missing = [f"{where}: {msgid!r}" for (context, msgid), where in sorted(found.items())
               if not (m := catalog.get(msgid, context=context)) or not m.string or m.fuzzy]
    assert not missing, "texts without an English translation (run `make messages` and translate):\n" + \
        "\n".join(missing)
    problems = [f"{message.id!r}: {errors}" for message, errors in catalog.check()]
    assert not problems
    # Jinja's i18n extension inserts a translation as markup (like the template's own text): a translation may
    # not bring HTML characters its msgid does not have.
    markup = [m.id for m in catalog if m.id and {c for c in str(m.string) if c in '<>&"'} - set(str(m.id))]
    assert not markup
    with_placeholders = [m for m in catalog if m.id and "%(" in str(m.id)]
    assert with_placeholders and all("python-format" in m.flags for m in with_placeholders)


def test_a_translation_whose_placeholders_differ_is_caught():
    catalog = _catalog()
    message = next(m for m in catalog if m.id and "%(" in str(m.id))
    message.string = str(message.string).replace("%(", "%(renamed_")
    assert any(m.id == message.id for m, _errors in catalog.check())


def test_catalogues_compile_when_missing_or_older_than_their_po(tmp_path):
    target = tmp_path / "en/LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(PO, target / "messages.po")
    assert i18n.compile_catalogues(tmp_path) == [target / "messages.mo"]
    assert i18n.compile_catalogues(tmp_path) == []  # up to date
    po = target / "messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Accepted"', 'msgstr "Taken in"'), encoding="utf-8")
    os.utime(po, (po.stat().st_mtime + 5, po.stat().st_mtime + 5))
    assert i18n.compile_catalogues(tmp_path) == [target / "messages.mo"]
    assert Translations.load(str(tmp_path), ["en"]).gettext("Đã tiếp nhận") == "Taken in"


def test_domain_labels_are_vietnamese_msgids_with_english_from_the_catalogue():
    assert (StatusCode.ACCEPTED.label_vi, StatusCode.ACCEPTED.label_en) == ("Đã tiếp nhận", "Accepted")
    assert DeliveryState.DEAD_LETTER.label_en == "Delivery failed"
    assert i18n.english("Một câu chưa có trong danh mục") == "Một câu chưa có trong danh mục"
