"""Helpers for the attacks of tests/security: a demo install's app and a client that logs in as a person."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from docsign.web.app import create_app

PASSWORD = "docsign-demo"
CLERK, ADMIN = "tinh.vanthu", "admin"
AGENCY = "000.00.00.H30"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@pytest.fixture
def site(migrated):  # type: ignore[no-untyped-def]
    """An install with one agency, its clerk and an admin (no PKI: cheaper than the demo where keys do
    not matter)."""
    from docsign.accounts import add_user
    from docsign.db import session_scope
    from docsign.exchange.directory import add_agency

    with session_scope(migrated.database_url) as s:
        add_agency(s, code=AGENCY, name="Ủy ban nhân dân tỉnh Hòa Bình")
        add_user(s, login=CLERK, full_name="Lê Thị Hoa", agency_code=AGENCY, role="clerk", password=PASSWORD,
                 allow_short_password=True)
        add_user(s, login=ADMIN, full_name="Quản trị", agency_code=AGENCY, role="admin", password=PASSWORD,
                 allow_short_password=True)
    return migrated


@pytest.fixture
def app(site) -> Flask:  # type: ignore[no-untyped-def]
    return create_app(site)


def csrf_of(client: FlaskClient, path: str = "/login", ip: str = "127.0.0.1") -> str:
    match = CSRF.search(client.get(path, environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def log_in(client: FlaskClient, login: str = CLERK, password: str = PASSWORD, *, ip: str = "127.0.0.1",
           next_url: str | None = None):  # type: ignore[no-untyped-def]
    """POST the login form as a browser would (with its session's CSRF token) from client address ``ip``."""
    url = "/login" if next_url is None else f"/login?next={next_url}"
    token = getattr(client, "csrf_token", None) or csrf_of(client, ip=ip)
    client.csrf_token = token  # type: ignore[attr-defined]  # one per session, as Flask-WTF keeps it
    response = client.post(url, data={"login": login, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": ip})
    if response.status_code == 302:
        client.csrf_token = None  # type: ignore[attr-defined]  # a login starts a new session
    return response


def app_with(demo, **changes) -> Flask:  # type: ignore[no-untyped-def]
    """Another web process of the same install, with some settings changed."""
    return create_app(replace(demo, **changes))
