"""Item 6: a session ends on the server (logout, password change, disable, lifetime), not only in the browser.

Attack: keep a copy of the session cookie, let the person log out, and replay the copy (before: it still
opened /dashboard and downloaded documents for up to 31 days).
"""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from docsign import accounts
from docsign.db import session_scope
from tests.security.conftest import CLERK, app_with, csrf_of, log_in

COOKIE = "session"


def _stolen_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _replay(app, cookie: str):  # type: ignore[no-untyped-def]
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief.get("/dashboard")


def _logged_in(app) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert log_in(client).status_code == 302
    assert client.get("/dashboard").status_code == 200
    return client


def test_a_cookie_saved_before_logout_opens_nothing_after_it(app):  # type: ignore[no-untyped-def]
    client = _logged_in(app)
    saved = _stolen_cookie(client)
    assert _replay(app, saved).status_code == 200  # the copy works while the session lives
    token = csrf_of(client, "/dashboard")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replayed = _replay(app, saved)
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
    thief = app.test_client()
    thief.set_cookie(COOKIE, saved)
    assert thief.get("/documents").status_code == 302


def test_logging_in_again_ends_the_older_session(app):  # type: ignore[no-untyped-def]
    first = _logged_in(app)
    saved = _stolen_cookie(first)
    _logged_in(app)  # the same person logs in elsewhere: the session version rotates
    assert _replay(app, saved).status_code == 302


@pytest.mark.parametrize("change", ["password", "disable"])
def test_password_change_and_disable_end_open_sessions_at_once(app, site, change):  # type: ignore[no-untyped-def]
    saved = _stolen_cookie(_logged_in(app))
    with session_scope(site.database_url) as s:
        if change == "password":
            accounts.set_password(s, CLERK, "a-brand-new-password", actor="test")
        else:
            accounts.set_active(s, CLERK, False, actor="test")
    assert _replay(app, saved).status_code == 302
    if change == "password":
        assert log_in(app.test_client(), password="a-brand-new-password").status_code == 302
    else:
        assert log_in(app.test_client()).status_code == 401


def test_a_session_lasts_the_configured_hours(site):  # type: ignore[no-untyped-def]
    app = app_with(site, session_hours=8)
    client = _logged_in(app)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.expires is not None
    assert cookie.expires.timestamp() - time.time() <= 8 * 3600 + 60  # not Flask's 31 days
    from docsign.web.auth import LOGIN_TIME

    with client.session_transaction() as session:  # the login was 8 h 1 min ago, the cookie still fresh
        session[LOGIN_TIME] = int(time.time()) - 8 * 3600 - 60
    assert client.get("/dashboard").status_code == 302


@pytest.mark.embedded_only
def test_secure_cookies_behind_tls(site):  # type: ignore[no-untyped-def]
    client = app_with(site, secure_cookies=True).test_client()
    response = log_in(client)
    set_cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
