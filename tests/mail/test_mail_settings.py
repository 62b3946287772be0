"""DOCSIGN_SMTP_URL and address lists, without a server: what is taken, what is refused and how."""

from __future__ import annotations

import pytest

from docsign.config import load_settings
from docsign.errors import ConfigError, InvalidInput
from docsign.mail.addresses import MAX_RECIPIENTS, checked_addresses
from docsign.mail.transport import SmtpTarget, parse_smtp_url


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://127.0.0.1:2525", SmtpTarget("smtp", "127.0.0.1", 2525)),
    ("smtp://mail.example.org", SmtpTarget("smtp", "mail.example.org", 25)),
    ("smtps://docsign%40tinh:p%3Ass@mail.example.org", SmtpTarget("smtps", "mail.example.org", 465, "docsign@tinh",
                                                                   "p:ss")),
    ("smtp://u:p@mail.example.org:587?starttls=1", SmtpTarget("smtp", "mail.example.org", 587, "u", "p", True)),
])
def test_smtp_urls_are_read(url, expected):
    assert parse_smtp_url(url) == expected
    assert "p:ss" not in repr(parse_smtp_url(url))  # the password never shows in logs


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "smtp://host:notaport", "mail.example.org"])
def test_bad_smtp_urls_are_refused_without_echoing_them(url):
    with pytest.raises(ConfigError) as refused:
        load_settings({"DOCSIGN_SMTP_URL": url.replace("mail", "user:s3cret@mail", 1)})
    assert "s3cret" not in refused.value.message
    assert refused.value.message.startswith("DOCSIGN_SMTP_URL must look like")


def test_email_is_off_unless_configured_and_mail_from_is_checked():
    assert load_settings({}).smtp_url is None
    assert load_settings({"DOCSIGN_MAIL_FROM": "Bounces@Tinh.Example.org"}).mail_from == "Bounces@tinh.example.org"
    with pytest.raises(ConfigError, match="DOCSIGN_MAIL_FROM 'bounces' is not an e-mail address"):
        load_settings({"DOCSIGN_MAIL_FROM": "bounces"})


def test_address_lists():
    assert checked_addresses(["a@x.example.org, b@x.example.org", "A@x.example.org"]) == [
        "a@x.example.org", "b@x.example.org"]
    with pytest.raises(InvalidInput, match="give at least one recipient"):
        checked_addresses([" , "], "recipient")
    with pytest.raises(InvalidInput, match=f"at most {MAX_RECIPIENTS} addresses"):
        checked_addresses([",".join(f"u{i}@x.example.org" for i in range(MAX_RECIPIENTS + 1))])
    with pytest.raises(InvalidInput, match="'tiếp dân@x' is not an e-mail address"):
        checked_addresses(["tiếp dân@x"])
