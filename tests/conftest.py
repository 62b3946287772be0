"""Suite-wide rules. In CI (CI=true) a skipped test fails the run: every service and tool must be there."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


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
