"""Verdicts on real signed PDFs: levels, integrity, trust, revocation, expiry, DocMDP (design.md rules)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from docsign.pki.authority import utcnow
from docsign.verification.engine import verify_pdf
from docsign.verification.errors import EmptyDocument, NotAPdf, UnreadableDocument
from docsign.verification.report import Indication
from tests.support.pki_server import build_test_pki, free_port, serve_pki
from tests.unit.verification.pdfs import Kit, append_update, text_pdf


def verdict(report, index: int = 0):  # type: ignore[no-untyped-def]
    sig = report.signatures[index]
    return sig.indication.value, sig.sub_indication


@pytest.mark.parametrize(("name", "level"), [("b_b", "PAdES-B-B"), ("b_t", "PAdES-B-T"), ("b_lt", "PAdES-B-LT"),
                                             ("b_lta", "PAdES-B-LTA")])
def test_each_level_passes_with_the_right_facts(kit, docs, name, level):  # type: ignore[no-untyped-def]
    report = verify_pdf(getattr(docs, name), [kit.root])
    sig = report.signatures[0]
    assert report.indication is Indication.TOTAL_PASSED, sig.errors
    assert verdict(report) == ("TOTAL_PASSED", None)
    assert sig.level.value == level
    assert sig.signer.common_name == "Nguyen Van A"
    assert sig.signer.organization == "UBND tinh Hoa Binh"
    assert sig.integrity and sig.trusted and sig.revocation.value == "good"
    assert sig.signing_time is not None
    assert (sig.timestamp_time is not None) == (level != "PAdES-B-B")
    assert sig.modifications.value == ("NONE" if level in ("PAdES-B-B", "PAdES-B-T") else "LTA_UPDATES")
    assert sig.coverage.value == ("ENTIRE_FILE" if level in ("PAdES-B-B", "PAdES-B-T") else "ENTIRE_REVISION")
    assert report.exit_code == 0


def test_report_has_exactly_the_contract_shape(kit, docs):  # type: ignore[no-untyped-def]
    body = json.loads(json.dumps(verify_pdf(docs.b_lt, [kit.root]).to_dict()))
    assert {"report_version", "document", "indication", "signatures"} <= set(body)
    assert body["report_version"] == 1
    assert set(body["document"]) == {"sha256", "size", "pages", "revisions"}
    assert body["document"]["pages"] == 1 and body["document"]["revisions"] == 3
    sig = body["signatures"][0]
    assert set(sig) == {"field", "indication", "sub_indication", "signer", "signing_time", "timestamp_time", "level",
                        "integrity", "trusted", "revocation", "coverage", "modifications", "errors", "warnings"}
    assert set(sig["signer"]) == {"common_name", "organization", "subject", "issuer", "serial", "not_before",
                                  "not_after"}


def test_flipped_byte_in_signed_range_is_hash_failure(kit, docs):  # type: ignore[no-untyped-def]
    data = bytearray(docs.b_b)
    data[data.index(b"page 1")] ^= 0x01
    report = verify_pdf(bytes(data), [kit.root])
    assert verdict(report) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert report.indication is Indication.TOTAL_FAILED and report.exit_code == 1
    assert not report.signatures[0].integrity


def test_unknown_chain_is_no_certificate_chain_found(docs):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.b_b, [])
    assert verdict(report) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert not report.signatures[0].trusted and report.exit_code == 2


def test_untrusted_pki_is_no_certificate_chain_found(kit, tmp_path):  # type: ignore[no-untyped-def]
    port = free_port()
    other = build_test_pki(tmp_path / "other", port)
    with serve_pki(other, port) as url:
        rogue = Kit(other, url, f"{url}/pki/tsa")
        data = rogue.sign(text_pdf(), rogue.signer("mallory"), level="B-T")
    report = verify_pdf(data, [kit.root])
    assert verdict(report) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")


def test_two_signatures_each_get_a_verdict(kit, docs):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.two, [kit.root])
    assert [s.field for s in report.signatures] == ["Approve", "Issue"]
    assert [verdict(report, i) for i in (0, 1)] == [("TOTAL_PASSED", None)] * 2
    assert report.signatures[0].modifications.value == "FORM_FILLING"  # a later signature was added
    assert report.signatures[1].signer.organization == "So Thong tin va Truyen thong"


def test_pkcs7_subfilter_is_reported_as_pkcs7(kit, docs):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.pkcs7, [kit.root])
    assert verdict(report) == ("TOTAL_PASSED", None)
    assert report.signatures[0].level.value == "PKCS7"


def test_no_signature(docs):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.plain, [])
    assert report.indication is Indication.NO_SIGNATURE and report.signatures == () and report.exit_code == 1


def test_certified_no_changes_then_changed_is_constraints_failure(kit, docs):  # type: ignore[no-untyped-def]
    changed = append_update(docs.certified_p1, {3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>"})
    report = verify_pdf(changed, [kit.root])
    assert verdict(report) == ("TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert report.signatures[0].modifications.value == "OTHER"


def test_certified_fill_forms_then_second_signature_is_allowed(kit, docs):  # type: ignore[no-untyped-def]
    certified = kit.sign(docs.plain, kit.signer("alice"), level="B-B", certify=True)
    signed_again = kit.sign(certified, kit.signer("bob"), field_name="Later")
    report = verify_pdf(signed_again, [kit.root])
    assert [verdict(report, i) for i in (0, 1)] == [("TOTAL_PASSED", None)] * 2
    assert report.signatures[0].modifications.value == "FORM_FILLING"


def test_revoked_signer(kit):  # type: ignore[no-untyped-def]
    signer = kit.signer("revoked-1")
    plain, stamped = kit.sign(text_pdf(), signer), kit.sign(text_pdf(), signer, level="B-T")
    kit.store.revoke("issuing", kit.serial("revoked-1"), when=utcnow() - dt.timedelta(days=1))
    # no proof the signature existed before the revocation
    report = verify_pdf(plain, [kit.root])
    assert verdict(report) == ("INDETERMINATE", "REVOKED_NO_POE")
    assert report.signatures[0].revocation.value == "revoked"
    # a timestamp proves the signature was made after the revocation
    assert verdict(verify_pdf(stamped, [kit.root])) == ("TOTAL_FAILED", "REVOKED")


def test_revoked_after_the_timestamp_still_passes(kit):  # type: ignore[no-untyped-def]
    signer = kit.signer("revoked-later")
    data = kit.sign(text_pdf(), signer, level="B-T")
    kit.store.revoke("issuing", kit.serial("revoked-later"), when=utcnow() + dt.timedelta(seconds=2))
    report = verify_pdf(data, [kit.root], at=utcnow() + dt.timedelta(seconds=5))
    assert verdict(report) == ("TOTAL_PASSED", None), report.signatures[0].errors
    assert any("timestamp proves" in w for w in report.signatures[0].warnings)


def test_expired_signer(kit):  # type: ignore[no-untyped-def]
    signer = kit.signer("expired", not_before=utcnow() - dt.timedelta(days=40), validity=dt.timedelta(days=30))
    assert verdict(verify_pdf(kit.sign(text_pdf(), signer), [kit.root])) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    stamped = kit.sign(text_pdf(), signer, level="B-T")
    assert verdict(verify_pdf(stamped, [kit.root])) == ("TOTAL_FAILED", "EXPIRED")


def test_expired_since_but_timestamped_while_valid_passes(kit):  # type: ignore[no-untyped-def]
    signer = kit.signer("short-lived", validity=dt.timedelta(hours=1, seconds=30))
    data = kit.sign(text_pdf(), signer, level="B-T")
    later = utcnow() + dt.timedelta(minutes=5)
    assert verdict(verify_pdf(kit.sign(text_pdf(), signer), [kit.root], at=later))[1] in (
        "OUT_OF_BOUNDS_NO_POE", "TRY_LATER")
    report = verify_pdf(data, [kit.root], at=later)
    assert verdict(report) == ("TOTAL_PASSED", None), report.signatures[0].errors


def test_revocation_unavailable_is_try_later(tmp_path, no_revocation_cache):  # type: ignore[no-untyped-def]
    port = free_port()
    store = build_test_pki(tmp_path / "down", port)
    with serve_pki(store, port) as url:
        down = Kit(store, url, f"{url}/pki/tsa")
        data = down.sign(text_pdf(), down.signer("someone"))
    report = verify_pdf(data, [down.root])  # the OCSP/CRL server is gone now
    assert verdict(report) == ("INDETERMINATE", "TRY_LATER")
    assert report.signatures[0].revocation.value == "unknown"
    assert report.exit_code == 2


def test_offline_without_embedded_revocation_data_is_try_later(kit, docs, no_revocation_cache):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.b_b, [kit.root], offline=True)
    assert verdict(report) == ("INDETERMINATE", "TRY_LATER")
    assert report.signatures[0].revocation.value == "not_checked"


def test_offline_with_embedded_revocation_data_passes(kit, docs, no_revocation_cache):  # type: ignore[no-untyped-def]
    for name in ("b_lt", "b_lta"):
        assert verdict(verify_pdf(getattr(docs, name), [kit.root], offline=True)) == ("TOTAL_PASSED", None)


@pytest.mark.parametrize(("data", "error"), [(b"", EmptyDocument), (b"hello, not a pdf", NotAPdf),
                                             (b"%PDF-1.7\n garbage", UnreadableDocument)])
def test_unreadable_input_raises_exit_3(data, error):  # type: ignore[no-untyped-def]
    with pytest.raises(error) as info:
        verify_pdf(data, [])
    assert info.value.exit_code == 3
    assert info.value.http_status in (400, 415)
