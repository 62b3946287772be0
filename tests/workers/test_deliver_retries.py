"""A real worker process meets a transient fault on receipt: the revocation service is down, so the
signatures cannot be checked yet (TRY_LATER). The delivery is retried with backoff, dead-lettered after
DOCSIGN_DELIVERY_ATTEMPTS tries, and delivered once an admin re-drives it with the service back up; a
message that names a delivery that does not exist, or one already handled, holds up no other."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.exchange import service as svc
from docsign.models import Delivery, Document
from docsign.pki.demo import load_demo_pki
from tests.support.demo import online_demo
from tests.support.documents import sealed_pdf
from tests.support.exchange_rig import wait_until
from tests.support.pki_server import shared_pki_server

pytestmark = pytest.mark.backend
PROVINCE, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30"
ATTEMPTS = 2


def _states(settings, ids):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return [s.get(Delivery, i).state for i in ids]


def test_a_delivery_that_cannot_be_checked_yet_is_retried_then_dead_lettered_then_redriven(backend, tmp_path):
    from workers.app import create_celery
    from workers.relay import relay_once

    with online_demo(tmp_path, backend) as settings:  # the demo PKI answers only inside this block
        pdf = sealed_pdf(settings, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
        request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON, TAN_LAC),
                                  subject="Về việc thử nghiệm gửi lại")
        with session_scope(settings.database_url) as s:
            ids = [d.id for d in svc.send(s, settings, request, pdf, actor="test").deliveries]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({"DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
                "DOCSIGN_DATABASE_URL": settings.database_url, "DOCSIGN_BROKER_URL": settings.broker_url,
                "DOCSIGN_PUBLIC_URL": settings.public_url, "DOCSIGN_DELIVERY_ATTEMPTS": str(ATTEMPTS)})
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "docsign", "worker", "--all", "--concurrency", "1"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        app = create_celery(settings)
        started = time.monotonic()
        assert relay_once(settings, app) == 2  # one message per recipient queue
        wait_until(lambda: _states(settings, ids) == ["dead_letter", "dead_letter"], 90,
                   "both deliveries dead-lettered", interval=0.5)
        # ATTEMPTS tries each: the first, then ATTEMPTS - 1 retries after a backoff
        text = log.read_text(errors="replace")
        # one log record per retry (a JSON record repeats the text in its exception field: count records)
        retries = sum("Retry in" in line for line in text.splitlines())
        assert retries == len(ids) * (ATTEMPTS - 1), text[-3000:]
        assert time.monotonic() - started < 60
        with session_scope(settings.database_url) as s:
            for delivery_id in ids:
                delivery = s.get(Delivery, delivery_id)
                assert "TRY_LATER" in (delivery.last_error or ""), delivery.last_error
                assert [e.state for e in delivery.events] == ["queued", "dead_letter"]
            assert s.scalar(select(func.count(Document.id)).where(Document.received_via_delivery_id.in_(ids))) == 0

        server = shared_pki_server()  # the demo's certificates name this process's shared PKI server
        assert server.url == settings.public_url
        with server.serving(load_demo_pki(settings)):
            with session_scope(settings.database_url) as s:
                assert sorted(svc.redrive(s, actor="admin")) == ids
            assert relay_once(settings, app) == 2
            wait_until(lambda: _states(settings, ids) == ["delivered", "delivered"], 60, "both delivered", 0.5)
            # A message naming a delivery that does not exist and one already delivered: no harm, no duplicate.
            app.send_task(svc.DELIVER_TASK, kwargs={"delivery_ids": [10_000_000, ids[0]]},
                          queue=f"agency.{LAC_SON}")
            wait_until(lambda: "10000000 does not exist" in log.read_text(errors="replace"), 60,
                       "the unknown delivery reported")
        with session_scope(settings.database_url) as s:
            inbox = s.execute(select(Document.received_via_delivery_id, func.count(Document.id))
                              .where(Document.received_via_delivery_id.in_(ids))
                              .group_by(Document.received_via_delivery_id)).all()
            assert sorted(inbox) == [(ids[0], 1), (ids[1], 1)]
            assert [e.state for e in s.get(Delivery, ids[0]).events] == ["queued", "dead_letter", "queued",
                                                                        "delivered"]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
