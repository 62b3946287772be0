"""Prometheus metrics of the whole install (no Flask here: the workers and the relay count too).

Several processes (gunicorn's workers, Celery's pool, the relay) count into one place through
prometheus-client's multiprocess mode: ``docsign run``, ``docsign web`` and ``docsign worker`` set
``PROMETHEUS_MULTIPROC_DIR`` to ``<data dir>/metrics`` (docsign.cli) before the first metric is made,
and /metrics adds the processes' files up. What the database knows (deliveries by state, what waits for each
agency, dead letters) is read from it at scrape time, so every process reports the same numbers.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from docsign.config import Settings
from docsign.exchange.statuses import DeliveryState
from docsign.models import Agency, Delivery, Exchange

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_P = ParamSpec("_P")
_R = TypeVar("_R")


_MADE: dict[str, Any] | None = None
_MAKING = threading.Lock()


def _metrics() -> dict[str, Any]:
    """The metrics, made on first use, not at import: prometheus-client chooses between one process's
    memory and the multiprocess directory when it is imported, and the commands that run for long
    (docsign.cli) set the directory only once they know the data dir, after importing the domain code.
    Made under a lock: the first requests of a gunicorn gthread worker arrive together, and a metric
    registered twice is an error (they answered 500)."""
    global _MADE
    if _MADE is None:
        with _MAKING:
            if _MADE is None:
                _MADE = _make()
    return _MADE


def _make() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "REQUEST_SECONDS": Histogram("docsign_http_request_seconds", "Time to answer an HTTP request.",
                                     ["method", "endpoint", "status"], buckets=LATENCY_BUCKETS),
        "SIGN_SECONDS": Histogram("docsign_sign_seconds", "Time to sign a PDF (seal or personal signature).",
                                  buckets=LATENCY_BUCKETS),
        "VERIFY_SECONDS": Histogram("docsign_verify_seconds", "Time to verify the signatures of a PDF.",
                                    buckets=LATENCY_BUCKETS),
        "TASK_RETRIES": Counter("docsign_task_retries_total", "Celery task attempts put off for a retry.", ["task"]),
        "AUDIT_ANCHOR_FAILURES": Counter("docsign_audit_anchor_failures_total",
                                         "Committed audit events whose head could not be written to the head file."),
        "AUDIT_CHECKPOINTS": Counter("docsign_audit_checkpoints_total", "Timestamped audit checkpoints, by outcome.",
                                     ["outcome"]),
        "MAILS": Counter("docsign_mails_total", "Signed e-mails handed to the mail server (sent) and attempts that "
                         "failed (failed; retried until given up).", ["outcome"]),
        "LTV_RENEWALS": Counter("docsign_ltv_renewals_total", "Extensions (B-LT) and renewals (B-LTA) of kept "
                                "documents' evidence, by outcome (a failed attempt is retried).", ["outcome"]),
    }


def __getattr__(name: str) -> Any:  # metrics.SIGN_SECONDS and the others, made on first use
    try:
        return _metrics()[name]
    except KeyError:
        raise AttributeError(name) from None


def timed(metric: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a function to observe its duration in the histogram named ``metric`` (made on first call)."""

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(function)
        def timed_call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with _metrics()[metric].time():
                return function(*args, **kwargs)

        return timed_call

    return decorate


# -- what the database knows ---------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueDepth:
    agency_code: str
    agency_name: str
    waiting: int
    """Deliveries queued for the agency and not yet received."""
    dead_letters: int
    """Deliveries to the agency that failed for good and wait for an admin to re-drive them."""


def deliveries_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
    counts = {state.value: 0 for state in DeliveryState}
    counts.update({state: count for state, count in rows})
    return counts


def queue_depths(session: Session) -> list[QueueDepth]:
    """Per recipient agency: what waits for it and what was dead-lettered (agencies with neither left out)."""
    waiting = func.sum(case((Delivery.state == DeliveryState.QUEUED.value, 1), else_=0))
    dead = func.sum(case((Delivery.state == DeliveryState.DEAD_LETTER.value, 1), else_=0))
    rows = session.execute(
        select(Agency.code, Agency.name, waiting, dead).join(Delivery, Delivery.recipient_agency_id == Agency.id)
        .where(Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.DEAD_LETTER.value]))
        .group_by(Agency.code, Agency.name).order_by(Agency.code)).all()
    return [QueueDepth(code, name, int(w or 0), int(d or 0)) for code, name, w, d in rows]


def dead_letters(session: Session, agency_id: int | None = None, limit: int = 200) -> list[Delivery]:
    """Dead-lettered deliveries, newest first; with ``agency_id``, only those it sent or was sent."""
    sender = aliased(Exchange)
    query = (select(Delivery).join(sender, Delivery.exchange_id == sender.id)
             .where(Delivery.state == DeliveryState.DEAD_LETTER.value)
             .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).limit(limit))
    if agency_id is not None:
        query = query.where((Delivery.recipient_agency_id == agency_id) | (sender.sender_agency_id == agency_id))
    return list(session.scalars(query))


class ExchangeCollector:
    """Deliveries by state, queue depth and dead letters per agency, and the documents whose evidence is
    due for renewal, read from the database per scrape."""

    def __init__(self, database_url: str, settings: Settings | None = None) -> None:
        self.database_url = database_url
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from docsign.db import session_scope
        from docsign.ltv.service import due_count

        with session_scope(self.database_url) as session:
            states = deliveries_by_state(session)
            depths = queue_depths(session)
            due = due_count(session, self.settings) if self.settings is not None else None
        by_state = GaugeMetricFamily("docsign_deliveries", "Deliveries by state.", labels=["state"])
        for state, count in sorted(states.items()):
            by_state.add_metric([state], count)
        yield by_state
        depth = GaugeMetricFamily("docsign_queue_depth", "Deliveries waiting for each recipient agency.",
                                  labels=["agency"])
        dead = GaugeMetricFamily("docsign_dead_letters", "Dead-lettered deliveries to each agency.",
                                 labels=["agency"])
        for row in depths:
            depth.add_metric([row.agency_code], row.waiting)
            dead.add_metric([row.agency_code], row.dead_letters)
        yield depth
        yield dead
        if due is not None:
            yield GaugeMetricFamily("docsign_ltv_renewals_due", "Kept documents whose evidence must be extended or "
                                    "renewed now (within DOCSIGN_LTV_RENEW_DAYS_BEFORE) or whose last attempt failed.",
                                    value=due)


def render(database_url: str, settings: Settings | None = None) -> bytes:
    """The text exposition of every process's metrics (or this process's alone) plus the database's."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    from prometheus_client.registry import REGISTRY

    _metrics()  # listed even before their first observation
    if os.environ.get(MULTIPROC_ENV):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    database = CollectorRegistry()
    database.register(ExchangeCollector(database_url, settings))
    return generate_latest(processes) + generate_latest(database)
