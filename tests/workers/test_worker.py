"""A real Celery worker process on each backend: a task goes out and its result comes back."""

import subprocess
import sys
import uuid

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.backend


def test_task_round_trip_through_a_worker_process(settings, settings_env):
    assert run_cli("init", env=settings_env).returncode == 0
    worker = subprocess.Popen([sys.executable, "-m", "docsign", "worker", "--all", "--concurrency", "1"],
                              env=settings_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        from workers.app import create_celery

        app = create_celery(settings)
        nonce = uuid.uuid4().hex
        result = app.send_task("docsign.ping", args=[nonce], queue="docsign")
        assert result.get(timeout=60)["pong"] == nonce
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err[-2000:]
