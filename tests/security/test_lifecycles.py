"""Item 11: tokens can be listed, revoked and expire; users can be disabled and get a new password, and
each of these takes effect on the very next request.

Attack: keep using a leaked token or a live session after the admin acted (before: there was no
`docsign token list|revoke`, tokens never expired and there was no `docsign user disable|passwd`).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from docsign.accounts import create_token
from docsign.db import session_scope
from docsign.models import ApiToken, utcnow
from tests.conftest import run_cli
from tests.security.conftest import AGENCY, CLERK, log_in


def _agencies(app, token: str):  # type: ignore[no-untyped-def]
    return app.test_client().get("/api/v1/agencies", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.embedded_only  # the CLI is slow to start; the database's part is tested on every backend below
def test_a_revoked_token_stops_at_once(app, site, settings_env):  # type: ignore[no-untyped-def]
    created = run_cli("token", "create", "--agency", AGENCY, "--name", "dms", "--expires-days", "30",
                      env=settings_env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert _agencies(app, token).status_code == 200
    listed = run_cli("token", "list", env=settings_env)
    assert listed.returncode == 0 and token[:12] in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout  # never the token itself
    revoked = run_cli("token", "revoke", token[:12], env=settings_env)
    assert revoked.returncode == 0, revoked.stderr
    refused = _agencies(app, token)
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert "revoked" in run_cli("token", "list", env=settings_env).stdout
    assert run_cli("token", "revoke", "dsk_nothing", env=settings_env).returncode == 66


def test_an_expired_token_is_refused(app, site):  # type: ignore[no-untyped-def]
    with session_scope(site.database_url) as s:
        row, token = create_token(s, AGENCY, "dms", expires_in_days=1)
        row_id = row.id
    assert _agencies(app, token).status_code == 200
    with session_scope(site.database_url) as s:
        s.execute(update(ApiToken).where(ApiToken.id == row_id).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    refused = _agencies(app, token)
    assert refused.status_code == 401 and "expired" in refused.json["detail"]


@pytest.mark.embedded_only  # the same through the accounts service on every backend: test_sessions.py
def test_disable_and_passwd_stop_a_user_at_once(app, settings_env):  # type: ignore[no-untyped-def]
    browser = app.test_client()
    assert log_in(browser).status_code == 302 and browser.get("/dashboard").status_code == 200
    env = {**settings_env, "DOCSIGN_NEW_PASSWORD": "another-long-password"}
    assert run_cli("user", "passwd", CLERK, env=env).returncode == 0
    assert browser.get("/dashboard").status_code == 302  # the open session ended
    assert log_in(app.test_client()).status_code == 401  # the old password is gone
    assert log_in(browser, password="another-long-password").status_code == 302
    assert browser.get("/dashboard").status_code == 200
    disabled = run_cli("user", "disable", CLERK, env=settings_env)
    assert disabled.returncode == 0, disabled.stderr
    assert browser.get("/dashboard").status_code == 302
    assert log_in(app.test_client(), password="another-long-password").status_code == 401
    assert run_cli("user", "passwd", CLERK, env={**settings_env, "DOCSIGN_NEW_PASSWORD": "short"}).returncode == 65
