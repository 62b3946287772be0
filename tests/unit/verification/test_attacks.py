"""Each known PDF signature attack gets its exact verdict (indication and sub-indication)."""

from __future__ import annotations

import pytest

from docsign.verification.engine import verify_pdf
from tests.unit.verification import attacks

FAILED_FORMAT = ("TOTAL_FAILED", "FORMAT_FAILURE")
FAILED_CONSTRAINTS = ("TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")


@pytest.fixture(scope="module")
def victim(kit):  # type: ignore[no-untyped-def]
    """The attacker's prepared document, signed B-B by the victim (no later revisions)."""
    return kit.sign(attacks.shadow_base(), kit.signer("victim", common_name="Victim"), level="B-B")


def verdict(kit, data):  # type: ignore[no-untyped-def]
    report = verify_pdf(data, [kit.root])
    assert len(report.signatures) == 1, "an attacked signature must be reported, never skipped"
    sig = report.signatures[0]
    return (sig.indication.value, sig.sub_indication), sig


def test_the_prepared_document_itself_passes(kit, victim):  # type: ignore[no-untyped-def]
    assert verdict(kit, victim)[0] == ("TOTAL_PASSED", None)


def test_trailing_comment_is_not_an_attack(kit, victim):  # type: ignore[no-untyped-def]
    (result, sig) = verdict(kit, attacks.appended_garbage(victim))
    assert result[0] != "TOTAL_PASSED" or sig.modifications.value == "NONE"


@pytest.mark.parametrize(("attack", "expected"), [
    (attacks.isa_new_content, FAILED_CONSTRAINTS),
    (attacks.isa_without_xref, FAILED_CONSTRAINTS),
    (attacks.isa_unchained_xref, FAILED_CONSTRAINTS),
    (attacks.shadow_hide, FAILED_CONSTRAINTS),
    (attacks.shadow_replace_font, FAILED_CONSTRAINTS),
    (attacks.shadow_hide_and_replace, FAILED_CONSTRAINTS),
    (attacks.shadow_hide_and_replace_unlisted, FAILED_CONSTRAINTS),
    (attacks.usf_empty_contents, FAILED_FORMAT),
    (attacks.usf_no_contents, FAILED_FORMAT),
    (attacks.usf_no_byte_range, FAILED_FORMAT),
    (attacks.usf_zero_range, FAILED_FORMAT),
    (attacks.usf_out_of_file, FAILED_FORMAT),
    (attacks.usf_overlapping, FAILED_FORMAT),
    (attacks.usf_not_from_start, FAILED_FORMAT),
    (attacks.swa_wrapping, FAILED_FORMAT),
    (attacks.unknown_subfilter, FAILED_FORMAT),
    (attacks.garbled_cms, FAILED_FORMAT),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_attack_verdict(kit, victim, attack, expected):  # type: ignore[no-untyped-def]
    result, sig = verdict(kit, attack(victim))
    assert result == expected, sig.errors
    assert sig.errors, "a failed signature says why in plain words"
    if expected == FAILED_CONSTRAINTS:
        assert sig.modifications.value == "OTHER"


def test_signed_attributes_not_der_is_hash_failure(kit, victim):  # type: ignore[no-untyped-def]
    forged = attacks.not_der_signed_attributes(victim, kit, "victim")
    result, sig = verdict(kit, forged)
    assert result == ("TOTAL_FAILED", "HASH_FAILURE"), sig.errors
    assert any("DER" in e for e in sig.errors)


def test_changed_appearance_with_the_same_value_is_shadow_replace(kit):  # type: ignore[no-untyped-def]
    signed = kit.sign(attacks.form_base(), kit.signer("victim", common_name="Victim"), level="B-B")
    assert verdict(kit, signed)[0] == ("TOTAL_PASSED", None)
    result, sig = verdict(kit, attacks.shadow_replace_appearance(signed))
    assert result == FAILED_CONSTRAINTS and sig.modifications.value == "OTHER", sig.errors
    assert any("Amount" in e for e in sig.errors)
    result, sig = verdict(kit, attacks.fill_form_field(signed))
    assert result == ("TOTAL_PASSED", None) and sig.modifications.value == "FORM_FILLING", sig.errors
