"""Issue 9.2: the public verifier cannot take the app down.

The attack: many concurrent anonymous uploads of a PDF whose certificates send the verifier to a host
that accepts connections and never answers. Before, every upload took a web thread and waited for a
verification worker without bound, and `/login` did not answer for 30 s. Now anonymous verifications
run in their own small pool: beyond it (DOCSIGN_VERIFY_CONCURRENCY) or beyond a client's share
(DOCSIGN_VERIFY_PER_CLIENT) the answer is 503 with Retry-After at once, and the pages of people who
are logged in keep answering. Against a real gunicorn (what `docsign web` runs).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.security.test_ssrf import hostile  # noqa: F401 - the fixture
from tests.support.listener import listening
from tests.support.pki_server import free_port


class _SourceAddressAdapter(HTTPAdapter):
    """Requests from a chosen loopback address (127.0.0.2 ...), to be several clients."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.source, 0)
        return super().init_poolmanager(*args, **kwargs)


def _client(source: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _SourceAddressAdapter(source))
    return session


def _logged_in(url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = session.post(f"{url}/login", data={"login": "tinh.vanthu", "password": "docsign-demo",
                                                "csrf_token": token}, timeout=10)
    assert answer.status_code == 200 and "/dashboard" in answer.url, answer.status_code
    return session


@pytest.mark.embedded_only
def test_slow_anonymous_uploads_get_503_and_logged_in_pages_still_answer(demo, settings_env, hostile):  # type: ignore[no-untyped-def]  # noqa: F811
    data, target = hostile
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with listening(port=target, hang=True) as tarpit:
        env = {**settings_env, "DOCSIGN_FETCH_ALLOW_HOSTS": f"127.0.0.1:{target}",  # let it reach the tarpit
               "DOCSIGN_VERIFY_RATE": "off", "DOCSIGN_VERIFY_CONCURRENCY": "2", "DOCSIGN_VERIFY_PER_CLIENT": "1",
               "DOCSIGN_FETCH_MAX_SECONDS": "5"}
        server = subprocess.Popen([sys.executable, "-m", "docsign", "web", "--port", str(port), "--workers", "1"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            for _ in range(150):
                try:
                    if requests.get(f"{url}/healthz", timeout=1).status_code < 500:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
            member = _logged_in(url)
            assert member.get(f"{url}/dashboard", timeout=5).status_code == 200

            answers: list[tuple[str, int, str | None, float]] = []

            def upload(source: str) -> None:
                started = time.monotonic()
                if source == "127.0.0.7":  # the page, as a person's browser sends it
                    response = _client(source).post(f"{url}/verify", files={"file": ("a.pdf", data)}, timeout=60)
                else:
                    response = _client(source).post(f"{url}/api/v1/verify", data=data,
                                                    headers={"Content-Type": "application/pdf"}, timeout=60)
                answers.append((source, response.status_code, response.headers.get("Retry-After"),
                                time.monotonic() - started))

            # two clients hold the pool (one each: the per-client cap), then everyone else arrives
            first = [threading.Thread(target=upload, args=(s,)) for s in ("127.0.0.2", "127.0.0.3")]
            for t in first:
                t.start()
            deadline = time.monotonic() + 20
            while tarpit.connections < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert tarpit.connections >= 2, "the slow verifications did not start"
            rest = [threading.Thread(target=upload, args=(s,))
                    for s in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7")]
            for t in rest:
                t.start()
            for t in rest:
                t.join(timeout=30)
            refused = [a for a in answers if a[1] == 503]
            assert len(refused) == 6, answers
            assert all(a[2] is not None and int(a[2]) >= 1 and a[3] < 2.0 for a in refused), refused

            # the pool is still full of slow verifications: a member's page answers within a second
            assert all(t.is_alive() for t in first), "the slow verifications ended too early to prove anything"
            for _ in range(3):
                started = time.monotonic()
                page = member.get(f"{url}/dashboard", timeout=5)
                assert page.status_code == 200 and time.monotonic() - started < 1.0
            for t in first:
                t.join(timeout=60)
            assert sorted(a[1] for a in answers if a not in refused) == [200, 200]
            # and when the pool is free again, the next upload is verified
            with requests.post(f"{url}/api/v1/verify", data=data, headers={"Content-Type": "application/pdf"},
                               timeout=60) as again:
                assert again.status_code == 200
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
