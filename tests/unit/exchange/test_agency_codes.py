from __future__ import annotations

import pytest

from docsign.errors import InvalidInput
from docsign.exchange.agency_codes import (
    AgencyCode,
    agency_level,
    is_agency_code,
    parent_code,
    parse_agency_code,
    validate_agency_code,
)
from docsign.exchange.errors import InvalidAgencyCode


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("000.00.00.H30", 1, None),
        ("000.00.00.G22", 1, None),
        ("000.00.01.H30", 2, "000.00.00.H30"),
        ("000.01.01.H59", 3, "000.00.01.H59"),
        ("000.02.01.H59", 3, "000.00.01.H59"),
        ("001.01.01.H59", 4, "000.01.01.H59"),
        ("000.00.99.Y99", 2, "000.00.00.Y99"),
        ("000.00.01.A01", 2, "000.00.00.A01"),
    ],
)
def test_level_and_parent(code: str, level: int, parent: str | None) -> None:
    assert is_agency_code(code)
    assert agency_level(code) == level
    assert parent_code(code) == parent
    assert str(parse_agency_code(code)) == code


def test_parts() -> None:
    assert parse_agency_code("001.02.03.G09") == AgencyCode("001", "02", "03", "G09")


def test_parents_walk_up_to_level_1() -> None:
    code: str | None = "001.01.01.H59"
    chain = []
    while code is not None:
        chain.append(code)
        code = parent_code(code)
    assert chain == ["001.01.01.H59", "000.01.01.H59", "000.00.01.H59", "000.00.00.H59"]


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("", "expected 13 characters"),
        ("000.00.1.H30", "it has 12 characters"),
        ("0000.00.01.H30", "it has 14 characters"),
        ("000.00.01.Z30", "letter A-Y"),
        ("000.00.01.330", "letter A-Y"),
        ("000.00.01.HH0", "XXX.YY.ZZ.Mnn"),
        ("000-00-01-H30", "XXX.YY.ZZ.Mnn"),
        ("A00.00.01.H30", "XXX.YY.ZZ.Mnn"),
        ("000.00.01.H30x", "it has 14 characters"),
        ("G09.01", "it has 6 characters"),  # a Decision 20/2020 code, not a QCVN 102 one
    ],
)
def test_bad_codes_are_named_in_the_error(bad: str, hint: str) -> None:
    with pytest.raises(InvalidAgencyCode) as caught:
        parse_agency_code(bad, field="MessageHeader/To[1]/OrganId")
    message = str(caught.value)
    assert message.startswith(f"MessageHeader/To[1]/OrganId: {bad!r} is not an agency code")
    assert hint in message
    assert isinstance(caught.value, InvalidInput) and caught.value.http_status == 400
    assert not is_agency_code(bad)


def test_parsing_forgives_spaces_and_case_but_validation_does_not() -> None:
    assert str(parse_agency_code(" 000.00.01.h30 ")) == "000.00.01.H30"
    assert validate_agency_code("000.00.01.H30") == "000.00.01.H30"
    with pytest.raises(InvalidAgencyCode, match=r"must be written exactly as '000\.00\.01\.H30'"):
        validate_agency_code("000.00.01.h30")
    assert not is_agency_code("000.00.01.h30")
