"""Suite-wide fixtures and rules.

In CI (CI=true) a skipped test fails the run: every service and tool must be there, and the
PostgreSQL/Redis/RabbitMQ backends must be configured.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from docsign import security
from tests.support.backends import backend_names, provision

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parent.parent

# Passwords hashed in the test process use argon2id with a small cost: the suite hashes and checks
# hundreds of them (the demo's 13 users per demo test, every log-in), each 0.5-1 s at the production
# parameters. Same algorithm, format and code path; docsign processes the tests start (CLI, servers)
# hash with the production parameters, and tests/unit/core/test_password_cost.py checks those.
TEST_PASSWORD_PARAMETERS = dataclasses.replace(security.PASSWORD_PARAMETERS, time_cost=1, memory_cost=1024,
                                               parallelism=1)
security._hasher = PasswordHasher.from_parameters(TEST_PASSWORD_PARAMETERS)


def pytest_configure(config):  # type: ignore[no-untyped-def]
    config.addinivalue_line("markers", "brokers_only: runs on the server backends only (PostgreSQL with Redis, "
                                       "with RabbitMQ): the behaviour under test is the broker's")
    if IN_CI and len(backend_names()) < 3:
        raise pytest.UsageError("CI must test every backend: set DOCSIGN_TEST_POSTGRES_URL, DOCSIGN_TEST_REDIS_URL "
                                "and DOCSIGN_TEST_AMQP_URL (.ci/run does)")


def pytest_generate_tests(metafunc):  # type: ignore[no-untyped-def]
    if "backend" in metafunc.fixturenames:
        only_embedded = metafunc.definition.get_closest_marker("embedded_only") is not None
        only_brokers = metafunc.definition.get_closest_marker("brokers_only") is not None
        names = ["embedded"] if only_embedded else backend_names()
        if only_brokers:
            names = [n for n in names if n != "embedded"]
        metafunc.parametrize("backend", names, indirect=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases():  # type: ignore[no-untyped-def]
    """At the end of the session: the PostgreSQL test databases dropped in the background, and the
    templates of tests.support.installs, are gone."""
    yield
    from tests.support import installs
    from tests.support.backends import finish_drops

    finish_drops()
    installs.cleanup()


@pytest.fixture
def backend(request, tmp_path):  # type: ignore[no-untyped-def]
    """One database/broker combination (parametrised over every configured backend). A PostgreSQL
    database is created as a copy of the template the test's fixtures would copy into it anyway."""
    with provision(request.param, tmp_path, _template_for(request.fixturenames)) as b:
        yield b


def _template_for(fixtures: list[str]) -> Callable[[str], str] | None:
    from docsign.config import load_settings
    from tests.support import installs
    from tests.support.pki_server import shared_pki_server

    if "demo_online" in fixtures:
        return lambda url: installs.demo_template_database(url, shared_pki_server().url)
    if "demo" in fixtures:  # the `settings` fixture's public URL: the default
        return lambda url: installs.demo_template_database(url, load_settings({}).public_url)
    if "migrated" in fixtures:
        return installs.migrated_template
    return None


@pytest.fixture
def settings(tmp_path, backend):  # type: ignore[no-untyped-def]
    from docsign.config import load_settings, prepare_data_dir

    env = {
        "DOCSIGN_DATA_DIR": str(tmp_path / "var"),
        "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
        "DOCSIGN_DATABASE_URL": backend.database,
        "DOCSIGN_BROKER_URL": backend.broker,
    }
    s = load_settings(env)
    prepare_data_dir(s)
    s.keys_dir.mkdir(parents=True, exist_ok=True)
    return s


@pytest.fixture
def settings_env(settings):  # type: ignore[no-untyped-def]
    """The environment a subprocess needs to use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({
        "DOCSIGN_DATA_DIR": str(settings.data_dir),
        "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
        "DOCSIGN_DATABASE_URL": settings.database_url,
        "DOCSIGN_BROKER_URL": settings.broker_url,
        "DOCSIGN_PUBLIC_URL": settings.public_url,
    })
    return env


@pytest.fixture
def migrated(settings):  # type: ignore[no-untyped-def]
    """Settings whose database is migrated to head."""
    from tests.support.installs import install_migrated

    install_migrated(settings)
    return settings


@pytest.fixture
def session(migrated):  # type: ignore[no-untyped-def]
    from docsign.db import session_factory

    s = session_factory(migrated.database_url)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def demo(migrated):  # type: ignore[no-untyped-def]
    """Settings with the demo PKI, agencies and users in place (a copy of what ``seed_demo`` made once for
    this process: tests.support.installs)."""
    from tests.support.installs import install_demo

    install_demo(migrated)
    return migrated


def run_cli(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `docsign ARGS` in a real subprocess, as a person at a terminal would."""
    return subprocess.run([sys.executable, "-m", "docsign", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, input=input)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A root, an issuing CA, a TSA and an OCSP responder, served over HTTP on loopback.

    ``test_pki.store`` is the :class:`docsign.pki.authority.PkiStore`; ``test_pki.url`` its base URL;
    issue end-entity certificates with ``test_pki.store.issue_signer(...)`` (then ``store.save()``).
    """
    from types import SimpleNamespace

    from tests.support.pki_server import build_test_pki, free_port, serve_pki

    port = free_port()
    store = build_test_pki(tmp_path_factory.mktemp("test-pki"), port)
    with serve_pki(store, port) as url:
        yield SimpleNamespace(store=store, url=url, tsa_url=f"{url}/pki/tsa", passphrase=store.passphrase)


@pytest.fixture
def demo_online(tmp_path, backend):  # type: ignore[no-untyped-def]
    """Demo data whose PKI (CRL, OCSP, TSA) is served over HTTP at the settings' public URL, as
    `docsign run` serves it, so signatures of the demo keys verify with live revocation checks."""
    from tests.support.demo import online_demo

    with online_demo(tmp_path, backend) as s:
        yield s
