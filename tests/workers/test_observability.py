"""Issue 14.5: a worker logs JSON lines, and a task carries the request id of whoever sent it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from docsign import logs
from tests.conftest import run_cli


@pytest.mark.embedded_only
def test_a_task_logs_json_with_the_request_id_of_its_sender(settings, settings_env):  # type: ignore[no-untyped-def]
    assert run_cli("init", env=settings_env).returncode == 0
    worker = subprocess.Popen([sys.executable, "-m", "docsign", "worker", "--all", "--concurrency", "1"],
                              env=settings_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    request_id = "req-" + uuid.uuid4().hex
    nonce = uuid.uuid4().hex
    try:
        from workers.app import create_celery

        app = create_celery(settings)
        token = logs.set_request_id(request_id)
        try:
            result = app.send_task("docsign.ping", args=[nonce], queue="docsign")
        finally:
            logs.reset_request_id(token)
        assert result.get(timeout=60)["pong"] == nonce
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    ping = [line for line in lines if line.get("message") == f"ping {nonce}"]
    assert ping and ping[0]["request_id"] == request_id and ping[0]["process"] == "worker", err[-3000:]
    assert all({"time", "level", "name", "message"} <= set(line) for line in lines)
