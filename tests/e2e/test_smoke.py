"""`docsign run` end to end: web app and worker come up, a task round-trips, Ctrl-C stops both."""

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import run_cli
from tests.support.pki_server import free_port

pytestmark = pytest.mark.embedded_only


def wait_for_health(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except OSError as exc:  # refused, reset or timed out while the processes start (URLError is one too)
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s: {last}")


def test_docsign_run_serves_and_processes_tasks_then_stops_cleanly(settings, settings_env):
    port = free_port()
    env = {**settings_env, "DOCSIGN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    assert run_cli("init", "--demo", env=env).returncode == 0
    log_path = settings.data_dir / "run.log"  # a file, not a pipe: a full pipe would stall the processes
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "docsign", "run", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz")
        assert health["status"] == "ok", health
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as resp:
            assert "Kiểm tra văn bản" in resp.read().decode()

        from workers.app import create_celery

        nonce = uuid.uuid4().hex
        result = create_celery(settings).send_task("docsign.ping", args=[nonce])
        try:
            assert result.get(timeout=120)["pong"] == nonce
        except Exception:
            print(log_path.read_text()[-6000:])
            raise
    finally:
        # Ctrl-C at a terminal reaches the whole process group.
        import os

        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
    output = log_path.read_text()
    assert proc.returncode == 0, output[-3000:]
    assert "docsign stopped" in output
