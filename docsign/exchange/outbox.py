"""The transactional outbox of the exchange: tasks are written with the change that calls for them and
published by the relay (:func:`publish_outbox`), so no message is lost and none goes out for a change
that was rolled back."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import logs
from docsign.models import Agency, OutboxMessage, utcnow

DELIVER_TASK = "docsign.exchange.deliver"
STATUS_TASK = "docsign.exchange.status"


def agency_queue(code: str) -> str:
    return f"agency.{code}"


def enqueue(session: Session, task: str, agency: Agency | str, **payload: object) -> None:
    """An outbox row of ``task`` for ``agency`` (an Agency already loaded spares a query, and the autoflush
    it would cause, per row)."""
    from docsign.exchange import axis

    code = agency if isinstance(agency, str) else agency.code
    task, queue = axis.route(session, task, agency, agency_queue(code))  # peers on the national axis
    request_id = logs.current_request_id()  # the relay sends it on as a message header
    session.add(OutboxMessage(task_name=task, queue=queue,
                              payload={**payload, **({REQUEST_ID_KEY: request_id} if request_id else {})}))


BATCHES = {DELIVER_TASK: ("delivery_id", "delivery_ids", 10), STATUS_TASK: ("status_event_id", "status_event_ids", 100)}
"""task → (the outbox row's key, the message's key, most rows per message): rows for the same task and
queue travel together. At most 10 deliveries a message keeps one message's work around a second."""


REQUEST_ID_KEY = "_request_id"


def publish_outbox(session: Session, publish: Callable[[str, str, dict[str, object], str | None], None],
                   limit: int = 500) -> int:
    """Publish unpublished outbox rows; stops at the first broker error (the rest wait).

    Under load, rows come in bursts: those for the same task and agency queue go out as one message
    (``delivery_ids``, ``status_event_ids``), so a worker takes a burst with one broker round trip and
    a sender records a burst of status packets in one transaction. Messages go out in the order of
    their first row. Returns how many rows were published."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.published_at.is_(None))
                           .order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)).all()
    open_batches: dict[tuple[str, str], list[OutboxMessage]] = {}
    batches: list[list[OutboxMessage]] = []
    for row in rows:
        key = (row.task_name, row.queue)
        batch = open_batches.get(key)
        if batch is None or row.task_name not in BATCHES or len(batch) >= BATCHES[row.task_name][2]:
            batch = open_batches[key] = []
            batches.append(batch)
        batch.append(row)
    sent = 0
    for batch in batches:
        first = batch[0]
        if first.task_name in BATCHES:
            row_key, message_key, _ = BATCHES[first.task_name]
            payload: dict[str, object] = {message_key: [int(r.payload[row_key]) for r in batch]}
        else:
            payload = {k: v for k, v in first.payload.items() if k != REQUEST_ID_KEY}
        request_ids = ",".join(dict.fromkeys(str(r.payload[REQUEST_ID_KEY]) for r in batch
                                             if r.payload.get(REQUEST_ID_KEY)))
        try:
            publish(first.task_name, first.queue, payload, request_ids or None)
        except Exception as exc:  # the broker's own error types vary by transport
            for row in batch:
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            break
        published_at = utcnow()
        for row in batch:
            row.published_at = published_at
        sent += len(batch)
    return sent

