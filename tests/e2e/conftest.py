"""A live docsign over real HTTP and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def live_url(demo):  # type: ignore[no-untyped-def]
    """The app factory's app with the demo data, served on a free loopback port."""
    from docsign.web.app import create_app

    server = make_server("127.0.0.1", 0, create_app(demo), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():  # module-scoped: Playwright's sync API runs an event loop on this thread until it stops,
    # which would break every later test that calls asyncio.run (pyHanko's sync entry points do).
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    yield context.new_page()
    context.close()


@pytest.fixture
def exchange_site(tmp_path, backend):  # type: ignore[no-untyped-def]
    """What `make run` starts, for a browser test of the exchange: the web app on the port the demo PKI
    was made for (it serves its OCSP, CRL and TSA there), a real worker process on every agency's queue
    and the outbox relay, all on the embedded database and serverless broker.

    Yields ``url``, ``settings`` and ``logs`` (the worker's and relay's output files, for failures).
    """
    import subprocess
    import sys
    from types import SimpleNamespace

    from docsign import migrations
    from docsign.config import load_settings, prepare_data_dir
    from docsign.db import session_scope
    from docsign.demo import seed_demo
    from docsign.web.app import create_app
    from tests.support.pki_server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    docsign_env = {"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
                   "DOCSIGN_DATABASE_URL": backend.database, "DOCSIGN_BROKER_URL": backend.broker,
                   "DOCSIGN_PUBLIC_URL": url}
    settings = load_settings(docsign_env)
    prepare_data_dir(settings)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        seed_demo(session, settings)

    server = make_server("127.0.0.1", port, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")} | docsign_env
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "relay")}
    commands = {"worker": ["worker", "--all", "--concurrency", "1"], "relay": ["relay"]}
    processes = {}
    try:
        for name, args in commands.items():
            with logs[name].open("w") as log:
                processes[name] = subprocess.Popen([sys.executable, "-m", "docsign", *args], env=env,
                                                   stdout=log, stderr=subprocess.STDOUT)
        yield SimpleNamespace(url=url, settings=settings, logs=logs)
    finally:
        for proc in processes.values():
            proc.terminate()
        for proc in processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        server.shutdown()
        thread.join(timeout=5)
