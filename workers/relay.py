"""The outbox relay: publishes what committed transactions asked for, and re-publishes deliveries that
were lost on the way (a broker restart, a message parked on a dead worker)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

from celery import Celery

from docsign.config import Settings
from docsign.db import session_scope
from docsign.exchange import service as exchange_service

log = logging.getLogger("docsign.relay")
POLL_SECONDS = 0.2


def publisher(app: Celery):  # type: ignore[no-untyped-def]
    def publish(task_name: str, queue: str, payload: dict[str, object]) -> None:
        app.send_task(task_name, kwargs=payload, queue=queue, retry=False)

    return publish


def relay_once(settings: Settings, app: Celery) -> int:
    with session_scope(settings.database_url) as session:
        return exchange_service.publish_outbox(session, publisher(app))


def sweep_once(settings: Settings) -> tuple[int, int]:
    with session_scope(settings.database_url) as session:
        return exchange_service.requeue_stale(
            session, older_than=dt.timedelta(seconds=settings.redeliver_after_seconds),
            max_attempts=settings.delivery_attempts)


def run_forever(settings: Settings, app: Celery, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sweep_every = max(1.0, settings.redeliver_after_seconds / 4)
    next_sweep = 0.0
    log.info("outbox relay started")
    import time

    while not stop.is_set():
        try:
            published = relay_once(settings, app)
            now = time.monotonic()
            if now >= next_sweep:
                requeued, dead = sweep_once(settings)
                if requeued or dead:
                    log.warning("re-published %d stale deliveries, dead-lettered %d", requeued, dead)
                next_sweep = now + sweep_every
        except Exception:  # a database or broker outage must not kill the relay: log and try again
            log.exception("outbox relay pass failed; retrying")
            published = 0
        if not published:
            stop.wait(POLL_SECONDS)
    log.info("outbox relay stopped")
