"""Item 10: /healthz is cheap and tells anonymous callers only ok / not ok.

Attacks: call /healthz in a loop (before: each call decrypted the CA keys, 0.24 s of CPU, unauthenticated)
and read its errors (before: "connection to server at 127.0.0.1, port 5499 failed" for anyone).
"""

from __future__ import annotations

import json
import time

import pytest

from docsign.web.app import create_app
from tests.security.conftest import ADMIN, app_with, log_in

DOWN_BROKER = "redis://127.0.0.1:9/0"


@pytest.mark.embedded_only
def test_anonymous_callers_see_no_error_text_admins_see_the_reasons(site):  # type: ignore[no-untyped-def]
    app = app_with(site, broker_url=DOWN_BROKER)
    anonymous = app.test_client().get("/healthz")
    assert anonymous.status_code == 503
    assert anonymous.json["checks"]["broker"] == {"ok": False}
    assert anonymous.json["checks"]["database"] == {"ok": True}
    body = json.dumps(anonymous.json)
    for leak in ("127.0.0.1", "port", "Error", "refused", str(site.data_dir)):
        assert leak not in body, leak
    admin = app.test_client()
    assert log_in(admin, ADMIN).status_code == 302
    detailed = admin.get("/healthz")
    assert detailed.status_code == 503 and detailed.json["checks"]["broker"]["ok"] is False
    assert "broker" in detailed.json["checks"]["broker"]["detail"]


def test_healthz_in_a_loop_costs_next_to_nothing(demo):  # type: ignore[no-untyped-def]
    """With the demo PKI's encrypted CA keys in place: 50 calls must not decrypt a key each."""
    client = create_app(demo).test_client()
    assert client.get("/healthz").status_code == 200  # the first probe
    started = time.process_time()
    answers = [client.get("/healthz") for _ in range(50)]
    cpu = time.process_time() - started
    assert cpu < 2.0, f"50 health checks took {cpu:.2f} s of CPU"
    assert all(a.status_code == 200 and a.json["checks"]["keys"]["ok"] for a in answers)
