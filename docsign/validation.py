"""Rules for the fields people and other systems type in, shared by the web forms, the agency API and the
services behind them, so that what one face refuses the other refuses too. Each rule returns the
cleaned value or raises InvalidInput with a message naming the field.
"""

from __future__ import annotations

import unicodedata

from docsign.errors import InvalidInput

# Bidirectional overrides and isolates reorder what a reader sees (a "trích yếu" that reads differently
# from what it says); the other format characters are harmless joiners and are kept.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_LINE_BREAKS = frozenset("\n\r\t")
NUMBER_MAX_DIGITS = 11
NOTATION_MAX_LENGTH = 30
NOTATION_SYMBOLS = frozenset("-.&_")


def text(value: object, what: str, *, max_length: int, required: bool = False,
         multiline: bool = False) -> str | None:
    """Trimmed text of at most ``max_length`` characters without control characters (line breaks and
    tabs only when ``multiline``); None when empty and not required."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, not {type(value).__name__}")
    value = value.strip()
    if not value:
        if required:
            raise InvalidInput(f"{what} is required")
        return None
    if len(value) > max_length:
        raise InvalidInput(f"{what} has at most {max_length} characters (this one has {len(value)})")
    for char in value:
        if multiline and char in _LINE_BREAKS:
            continue
        if char in _BIDI_CONTROLS or unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"}:
            raise InvalidInput(f"{what} contains a control character (U+{ord(char):04X}); type it again "
                               "or paste it as plain text")
    return unicodedata.normalize("NFC", value)


def document_number(value: object) -> str:
    """The document's number (số): a whole number from 1, written with at least two digits (05)."""
    number = value.strip() if isinstance(value, str) else ""
    if not number.isascii() or not number.isdigit() or len(number) > NUMBER_MAX_DIGITS or int(number) < 1:
        raise InvalidInput("the number (số) is a whole number such as 05")
    return number.zfill(2)


def notation(value: object, *, required: bool = False) -> str | None:
    """The notation (ký hiệu) such as UBND-VP or QĐ-UBND: letters, digits and - . & _, upper-cased."""
    cleaned = text(value, "the notation (ký hiệu)", max_length=NOTATION_MAX_LENGTH, required=required)
    if cleaned is None:
        return None
    cleaned = cleaned.upper()
    if not all(c.isalnum() or c in NOTATION_SYMBOLS for c in cleaned):
        raise InvalidInput("the notation (ký hiệu) is a short code such as UBND-VP: at most "
                           f"{NOTATION_MAX_LENGTH} letters, digits or - . & _ (no spaces or '/')")
    return cleaned


def whole_number(value: object, what: str, *, low: int, high: int, default: int | None = None) -> int:
    """A whole number between ``low`` and ``high`` from a form or query string (``default`` when absent)."""
    if value is None or value == "":
        if default is None:
            raise InvalidInput(f"{what} is required")
        return default
    raw = value.strip() if isinstance(value, str) else value
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isascii()
                                                              and raw.isdigit())):
        raise InvalidInput(f"{what} must be a whole number between {low} and {high}")
    number = int(raw)
    if not low <= number <= high:
        raise InvalidInput(f"{what} must be between {low} and {high}, not {number}")
    return number
