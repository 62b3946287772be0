"""The outbox relay: publishes what committed transactions asked for, and re-publishes deliveries and
status packets that were lost on the way (a broker restart, a message parked on a dead worker)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable

from celery import Celery

from docsign import audit, logs, metrics
from docsign.config import Settings
from docsign.db import session_scope
from docsign.errors import DocsignError
from docsign.exchange import service as exchange_service

log = logging.getLogger("docsign.relay")
POLL_SECONDS = 0.2
LINGER_SECONDS = 0.1
"""Pause after a pass that published: rows committed meanwhile go out together, as one message per task
and queue (a burst of deliveries is filed in one transaction), for at most this much added latency."""


def publisher(app: Celery, producer: object | None = None
              ) -> Callable[[str, str, dict[str, object], str | None], None]:
    def publish(task_name: str, queue: str, payload: dict[str, object], request_id: str | None = None) -> None:
        headers = {logs.TASK_HEADER: request_id} if request_id else None
        app.send_task(task_name, kwargs=payload, queue=queue, retry=False, producer=producer, headers=headers)

    return publish


def queue_depth(app: Celery) -> Callable[[str], int]:
    """``queue -> messages ready in it`` as the broker reports them (0 when the queue does not exist)."""

    def waiting(queue: str) -> int:
        with app.connection_for_write() as conn:
            channel = conn.channel()
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count)
            except conn.channel_errors:
                return 0  # passive declare of a queue nobody declared yet: nothing waits in it
            finally:
                try:
                    channel.close()
                except conn.connection_errors + conn.channel_errors:
                    pass

    return waiting


def relay_once(settings: Settings, app: Celery) -> int:
    """Publish one batch of the outbox over one producer (one broker connection); how many went out."""
    with session_scope(settings.database_url) as session, app.producer_or_acquire() as producer:
        return exchange_service.publish_outbox(session, publisher(app, producer))


def sweep_once(settings: Settings, app: Celery | None = None) -> tuple[int, int, int]:
    """Re-publish what looks lost: (deliveries requeued, deliveries dead-lettered, status packets again)."""
    older_than = dt.timedelta(seconds=settings.redeliver_after_seconds)
    waiting = queue_depth(app) if app is not None else None
    with session_scope(settings.database_url) as session:
        requeued, dead = exchange_service.requeue_stale(
            session, older_than=older_than, max_attempts=settings.delivery_attempts, waiting=waiting)
    with session_scope(settings.database_url) as session:
        statuses = exchange_service.requeue_unanswered_statuses(
            session, older_than=older_than, max_attempts=settings.delivery_attempts, waiting=waiting)
    return requeued, dead, statuses


CHECKPOINT_RETRY_SECONDS = 60


def checkpoint_if_due(settings: Settings) -> bool:
    """Have the audit chains' heads timestamped when the last checkpoint is older than the setting; a TSA
    that is down is logged and counted, and tried again a minute later (never skipped in silence)."""
    if not audit.checkpoint_due(settings, settings.audit_checkpoint_seconds):
        return False
    try:
        path = audit.checkpoint(settings)
    except DocsignError as exc:
        metrics.AUDIT_CHECKPOINTS.labels("failed").inc()
        log.warning("audit checkpoint failed, trying again in %d s: %s", CHECKPOINT_RETRY_SECONDS, exc.message)
        return False
    except Exception:
        metrics.AUDIT_CHECKPOINTS.labels("failed").inc()
        log.exception("audit checkpoint failed; trying again in %d s", CHECKPOINT_RETRY_SECONDS)
        return False
    metrics.AUDIT_CHECKPOINTS.labels("ok").inc()
    log.info("audit checkpoint %s", path.name)
    return True


def run_forever(settings: Settings, app: Celery, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sweep_every = max(1.0, settings.redeliver_after_seconds / 4)
    next_sweep = 0.0
    next_checkpoint = 0.0
    log.info("outbox relay started")
    while not stop.is_set():
        try:
            published = relay_once(settings, app)
            now = time.monotonic()
            if now >= next_sweep:
                requeued, dead, statuses = sweep_once(settings, app)
                if requeued or dead or statuses:
                    log.warning("re-published %d stale deliveries and %d status packets, dead-lettered %d",
                                requeued, statuses, dead)
                next_sweep = now + sweep_every
            if now >= next_checkpoint:
                next_checkpoint = now + CHECKPOINT_RETRY_SECONDS
                checkpoint_if_due(settings)
        except Exception:  # a database or broker outage must not kill the relay: log and try again
            log.exception("outbox relay pass failed; retrying")
            published = 0
            stop.wait(1.0)
        stop.wait(LINGER_SECONDS if published else POLL_SECONDS)
    log.info("outbox relay stopped")
