"""The national document axis's task shells: publish one outbox message on the axis, and poll it.

``docsign.axis.send`` takes what the outbox routed to the axis (:func:`docsign.exchange.axis.route`);
a failure is recorded with its reason in a transaction of its own and the task is retried with backoff
(DOCSIGN_DELIVERY_ATTEMPTS in all; the relay's sweeper offers the delivery again later). The poll loop
(:func:`run_forever`, ``docsign axis run``) takes what the axis holds for us every few seconds.
"""

from __future__ import annotations

import logging
import threading

from docsign.config import Settings
from docsign.db import session_scope
from docsign.errors import DocsignError
from docsign.exchange import axis
from workers.app import celery_app
from workers.base import DocsignTask

log = logging.getLogger("docsign.axis")
POLL_SECONDS = 10.0


@celery_app.task(base=DocsignTask, name=axis.SEND_TASK, bind=True, ignore_result=True)
def send(self: DocsignTask, delivery_id: int | None = None, status_event_id: int | None = None) -> str | None:
    client = axis.AxisClient.from_settings(self.settings)
    if client is None:
        log.error("axis message for delivery %s / status %s, but DOCSIGN_AXIS_URL is not set: kept for later",
                  delivery_id, status_event_id)
        reason = "the national axis is not configured (DOCSIGN_AXIS_URL)"
        with self.session() as session:
            axis.record_failure(session, delivery_id=delivery_id, status_event_id=status_event_id, reason=reason)
        return None
    try:
        with self.session() as session:
            return axis.publish(session, self.settings, client, delivery_id=delivery_id,
                                status_event_id=status_event_id)
    except DocsignError as exc:
        with self.session() as session:
            axis.record_failure(session, delivery_id=delivery_id, status_event_id=status_event_id, reason=exc.message)
        raise  # the base class retries retryable faults with backoff


def poll_once(settings: Settings, client: axis.AxisClient) -> axis.PollResult:
    return axis.poll(lambda: session_scope(settings.database_url), settings, client)


def run_forever(settings: Settings, stop: threading.Event | None = None, every: float = POLL_SECONDS) -> None:
    """Poll the axis until ``stop`` is set; an axis that is away is logged with its reason and polled again."""
    client = axis.AxisClient.from_settings(settings)
    if client is None:
        raise DocsignError("the national axis is not configured: set DOCSIGN_AXIS_URL, DOCSIGN_AXIS_SYSTEM_ID "
                           "and DOCSIGN_AXIS_SECRET")
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            result = poll_once(settings, client)
            if result.filed or result.statuses or result.refused:
                log.info("axis: %d documents filed, %d statuses, %d refused", result.filed, result.statuses,
                         result.refused)
        except DocsignError as exc:
            log.warning("axis poll failed, polling again in %.0f s: %s", every, exc.message)
        except Exception:  # a database outage must not end the loop
            log.exception("axis poll failed")
        stop.wait(every)
