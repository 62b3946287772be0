"""`docsign run` stops cleanly within 10 s on SIGTERM, whether it goes to the parent alone (docker stop) or
to the whole process group (systemd, ``kill -- -PGID``), its worker's beat (the periodic jobs) included. Before
the fix, the group's SIGTERM killed the Celery pool processes too and the worker sat in warm shutdown until `run`
killed it 20 s later."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import run_cli
from tests.support.pki_server import free_port

STOP_LIMIT_SECONDS = 10.0


def _wait_until_ready(proc: subprocess.Popen[bytes], log_path, port: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        if " ready." in log_path.read_text():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
                time.sleep(3)  # the second web worker loads the app too
                return
            except OSError:
                pass
        time.sleep(0.3)
    raise AssertionError("docsign run did not become ready:\n" + log_path.read_text())


@pytest.mark.serial  # bounds wall-clock time: alone, not beside the parallel tests
@pytest.mark.embedded_only
@pytest.mark.parametrize("target", ["parent", "group"])
def test_run_stops_within_ten_seconds_on_sigterm(settings_env, tmp_path, target):  # type: ignore[no-untyped-def]
    assert run_cli("init", env=settings_env).returncode == 0
    port = free_port()
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        env = {**settings_env, "DOCSIGN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        proc = subprocess.Popen([sys.executable, "-m", "docsign", "run", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_ready(proc, log_path, port)
        # Several web processes count into one /metrics (prometheus-client's multiprocess mode).
        for _ in range(4):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read()
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        served = re.search(r'docsign_http_request_seconds_count\{endpoint="ui.login",method="GET",status="200"\} '
                           r'(\d+)', scraped)
        assert served and int(served.group(1)) >= 5, scraped
        assert 'docsign_deliveries{state="queued"} 0.0' in scraped
        started = time.monotonic()
        if target == "group":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = log_path.read_text()
    print(f"SIGTERM to the {target}: docsign run stopped in {took:.1f} s;", output.splitlines()[-1])
    assert returncode == 0, output
    assert took < STOP_LIMIT_SECONDS, output
    assert "docsign stopped (" in output and "killed" not in output
    assert "exited with 'signal 15" not in output  # the pool processes finished, not shot mid-task
    assert "beat: Starting" in output  # the worker ran the periodic jobs' scheduler, its state in the data dir
    assert list((tmp_path / "var").glob("beat-schedule*")), sorted(p.name for p in (tmp_path / "var").iterdir())
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the group is left behind
