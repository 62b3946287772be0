"""Item 5: guessing passwords and open redirects at the login form."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from docsign.db import session_scope
from docsign.models import AuditEvent, utcnow
from tests.security.conftest import CLERK, app_with, log_in


def _locks(settings) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "login.locked").order_by(AuditEvent.id)))


def test_guessing_one_accounts_password_locks_it_with_back_off(site):  # type: ignore[no-untyped-def]
    """Attack: 25 wrong passwords in a row, then the right one (before: all 401, then logged in at once)."""
    client = app_with(site).test_client()
    statuses = [log_in(client, CLERK, f"guess-{n}", ip=f"203.0.113.{n}").status_code for n in range(25)]
    right = log_in(client, CLERK, ip="203.0.113.99")
    assert right.status_code == 429, "the right password got in at once after 25 wrong ones"

    from docsign.accounts import ACCOUNT_FAILURES_BEFORE_LOCK, FIRST_LOCK_SECONDS
    from docsign.models import LoginThrottle

    assert statuses[:ACCOUNT_FAILURES_BEFORE_LOCK] == [401] * ACCOUNT_FAILURES_BEFORE_LOCK
    assert set(statuses[ACCOUNT_FAILURES_BEFORE_LOCK:]) == {429}, statuses  # locked: not even checked
    assert 0 < int(right.headers["Retry-After"]) <= FIRST_LOCK_SECONDS
    assert "dashboard" not in right.headers.get("Location", "")
    locks = _locks(site)
    assert len(locks) == 1 and locks[0].object_id == f"account:{CLERK}" and locks[0].details["seconds"] == 60

    # The lock runs out; the next wrong password locks again at once, twice as long (back-off).
    with session_scope(site.database_url) as s:
        s.execute(update(LoginThrottle).where(LoginThrottle.key == f"account:{CLERK}")
                  .values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    assert log_in(client, CLERK, "guess-again", ip="203.0.113.98").status_code == 401
    again = log_in(client, CLERK, ip="203.0.113.97")
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > FIRST_LOCK_SECONDS
    assert [e.details["seconds"] for e in _locks(site)] == [60, 120]

    # After the lock the right password gets in, and the count starts again.
    with session_scope(site.database_url) as s:
        s.execute(update(LoginThrottle).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    assert log_in(client, CLERK, ip="203.0.113.96").status_code == 302
    with session_scope(site.database_url) as s:
        assert s.get(LoginThrottle, f"account:{CLERK}") is None


@pytest.mark.embedded_only  # 21 password hashes; the locking itself runs on every backend above
def test_one_client_guessing_many_accounts_is_locked(site):  # type: ignore[no-untyped-def]
    """Attack: one address tries one password on many logins (spraying), below each account's limit."""
    client = app_with(site).test_client()
    statuses = [log_in(client, f"user{n}", "Password123", ip="198.51.100.77").status_code for n in range(21)]
    assert log_in(client, CLERK, ip="198.51.100.77").status_code == 429

    from docsign.accounts import CLIENT_FAILURES_BEFORE_LOCK

    assert statuses[:CLIENT_FAILURES_BEFORE_LOCK] == [401] * CLIENT_FAILURES_BEFORE_LOCK
    assert statuses[CLIENT_FAILURES_BEFORE_LOCK:] == [429] * (21 - CLIENT_FAILURES_BEFORE_LOCK)
    assert log_in(client, CLERK, ip="198.51.100.78").status_code == 302  # others are not locked out
    assert [e.object_id for e in _locks(site)] == ["ip:198.51.100.77"]


OPEN_REDIRECTS = [
    "/%09/evil.example/phish",     # a tab browsers drop: //evil.example
    "/%0a/evil.example",           # newline
    "/%0d%0a/evil.example",
    "%09//evil.example",
    "//evil.example/x",
    "///evil.example/x",
    "////evil.example",
    "/%5Cevil.example",            # backslash: browsers read /\ as //
    "/%5C%5Cevil.example",
    "%5C%5Cevil.example",
    "/%E2%80%AE/evil.example",     # a bidi override
    "%2F%2Fevil.example",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "%20//evil.example",
    "http:%2F%2Fevil.example",
    "/\\/evil.example",
]


@pytest.mark.embedded_only
def test_next_never_leaves_the_site(app):  # type: ignore[no-untyped-def]
    """Attack: a phishing link /login?next=... (before: /%09/evil.example/phish went to //evil.example)."""
    for n, target in enumerate(OPEN_REDIRECTS):
        client = app.test_client()
        response = log_in(client, next_url=target, ip=f"192.0.2.{n + 1}")
        assert response.status_code == 302, target
        location = response.headers["Location"]
        # What a browser does with the Location: drops tabs and newlines, reads backslashes as slashes.
        browser_view = "".join(c for c in location if c not in "\t\r\n").replace("\\", "/").lstrip()
        assert not browser_view.startswith("//"), (target, location)
        assert urlsplit(browser_view).netloc in {"", "localhost"}, (target, location)
        assert location.endswith("/dashboard"), (target, location)


@pytest.mark.embedded_only
def test_next_within_the_site_is_kept(app):  # type: ignore[no-untyped-def]
    response = log_in(app.test_client(), next_url="/documents%3Fx%3D1", ip="192.0.2.51")
    assert response.status_code == 302 and response.headers["Location"] == "/documents?x=1"
