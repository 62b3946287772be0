"""The public verification endpoints are rate-limited per client IP (Flask-Limiter, counted in the
install's shared store): 429 problem+json with Retry-After, page and API sharing one budget."""

from __future__ import annotations

import io

import pytest

from docsign.config import load_settings
from docsign.errors import ConfigError
from tests.unit.verification import conftest as verification_fixtures
from tests.web.test_verify_api import make_app

kit = verification_fixtures.kit
docs = verification_fixtures.docs


def post(client, ip: str, data: bytes = b"not a pdf"):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/verify", data=data, content_type="application/pdf",
                       environ_base={"REMOTE_ADDR": ip})


def test_over_the_limit_is_429_with_retry_after_and_others_are_unaffected(tmp_path, test_pki, docs):  # type: ignore[no-untyped-def]
    client = make_app(tmp_path, test_pki, VERIFY_RATE="3/minute").test_client()
    assert [post(client, "198.51.100.7").status_code for _ in range(3)] == [415] * 3  # counted, then refused as input
    limited = post(client, "198.51.100.7", docs.b_b)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json()["status"] == 429 and limited.get_json()["type"].endswith("/rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # another client still gets its verification
    other = post(client, "203.0.113.9", docs.b_b)
    assert other.status_code == 200 and other.get_json()["signatures"][0]["level"] == "PAdES-B-B"


def test_page_is_limited_too_and_shares_the_budget(tmp_path, test_pki):  # type: ignore[no-untyped-def]
    client = make_app(tmp_path, test_pki, VERIFY_RATE="2/hour").test_client()

    def submit():  # type: ignore[no-untyped-def]
        return client.post("/verify", data={"file": (io.BytesIO(b"hello"), "x.txt")},
                           content_type="multipart/form-data", environ_base={"REMOTE_ADDR": "192.0.2.1"})

    assert submit().status_code == 415
    assert post(client, "192.0.2.1").status_code == 415
    refused = submit()
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3000
    assert 'role="alert"' in refused.get_data(as_text=True)
    assert client.get("/verify", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 200  # reading is free


def test_off_means_no_limit(tmp_path, test_pki):  # type: ignore[no-untyped-def]
    client = make_app(tmp_path, test_pki, VERIFY_RATE="off").test_client()
    assert {post(client, "192.0.2.2").status_code for _ in range(20)} == {415}


@pytest.mark.parametrize(("raw", "expected"), [("60/minute", (60, 60)), ("5/second", (5, 1)), ("100/hour", (100, 3600)),
                                               ("off", None), (None, (600, 60))])
def test_setting(raw, expected):  # type: ignore[no-untyped-def]
    assert load_settings({"DOCSIGN_VERIFY_RATE": raw} if raw else {}).verify_rate == expected


@pytest.mark.parametrize("raw", ["fast", "10/day", "0/minute", "-1/second"])
def test_bad_setting_names_the_variable(raw):  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="DOCSIGN_VERIFY_RATE"):
        load_settings({"DOCSIGN_VERIFY_RATE": raw})
