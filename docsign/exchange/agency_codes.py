"""QCVN 102:2016 agency codes (mã định danh), the ``OrganId`` of edXML packets.

A code has 13 characters, ``XXX.YY.ZZ.Mnn``, read from right to left:

- ``Mnn``: the level-1 body, a letter A-Y and two digits (``H41`` Nghệ An province, ``G22`` the
  Government Office);
- ``ZZ``: level 2, ``YY``: level 3, ``XXX``: level 4. Zeros mean "this level itself".

So ``000.00.00.H59`` is the province, ``000.00.01.H59`` a level-2 unit under it and ``000.01.01.H59``
a level-3 unit under that one. A body's level is its leftmost non-zero group; its parent is the same
code with that group set to zeros. Codes with a gap (``001.00.01.H59``) are accepted as written: the
standard's tables were not available to say they never occur.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docsign.exchange.errors import InvalidAgencyCode

_CODE = re.compile(r"(\d{3})\.(\d{2})\.(\d{2})\.([A-Y]\d{2})")
EXAMPLE = "000.00.01.H30"


@dataclass(frozen=True)
class AgencyCode:
    """A parsed agency code; ``str(code)`` gives back the 13 characters."""

    level4: str
    """``XXX``, three digits."""
    level3: str
    """``YY``, two digits."""
    level2: str
    """``ZZ``, two digits."""
    level1: str
    """``Mnn``: the letter group (A Party, G ministries, H provinces, ...) and two digits."""

    def __str__(self) -> str:
        return f"{self.level4}.{self.level3}.{self.level2}.{self.level1}"

    @property
    def level(self) -> int:
        """1 for a level-1 body (``000.00.00.H30``) to 4 (``001.01.01.H30``)."""
        for level, group in ((4, self.level4), (3, self.level3), (2, self.level2)):
            if int(group):
                return level
        return 1

    @property
    def parent(self) -> AgencyCode | None:
        """The managing body's code, or None for a level-1 body."""
        match self.level:
            case 4:
                return AgencyCode("000", self.level3, self.level2, self.level1)
            case 3:
                return AgencyCode(self.level4, "00", self.level2, self.level1)
            case 2:
                return AgencyCode(self.level4, self.level3, "00", self.level1)
        return None


def parse_agency_code(value: str, *, field: str = "OrganId") -> AgencyCode:
    """Parse ``value``; surrounding spaces and a lower-case letter are forgiven (parse leniently).

    Raises :class:`InvalidAgencyCode` naming ``field`` and the bad value.
    """
    match = _CODE.fullmatch(value.strip().upper()) if isinstance(value, str) else None
    if match is None:
        raise InvalidAgencyCode(f"{field}: {value!r} {_why_not(value)}")
    return AgencyCode(*match.groups())


def validate_agency_code(value: str, *, field: str = "OrganId") -> str:
    """Return ``value`` if it is a code exactly as it must be emitted (13 characters, upper case)."""
    code = parse_agency_code(value, field=field)
    if str(code) != value:
        raise InvalidAgencyCode(f"{field}: {value!r} must be written exactly as {str(code)!r}")
    return value


def is_agency_code(value: str) -> bool:
    """True if ``value`` is a code exactly as it must be emitted."""
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def agency_level(value: str) -> int:
    """The level (1-4) of the body with code ``value``."""
    return parse_agency_code(value).level


def parent_code(value: str) -> str | None:
    """The parent's code (``000.00.01.H30`` → ``000.00.00.H30``), or None for a level-1 body."""
    parent = parse_agency_code(value).parent
    return None if parent is None else str(parent)


def _why_not(value: object) -> str:
    expected = f"expected 13 characters XXX.YY.ZZ.Mnn, e.g. {EXAMPLE}"
    if not isinstance(value, str) or not value.strip():
        return f"is not an agency code: {expected}"
    text = value.strip().upper()
    if len(text) != 13:
        return f"is not an agency code: it has {len(text)} characters, {expected}"
    if not "A" <= text[10] <= "Y":
        return f"is not an agency code: the level-1 group must start with a letter A-Y, {expected}"
    return f"is not an agency code: {expected}"
