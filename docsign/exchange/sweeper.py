"""The transport's sweeper: deliveries and status packets that did not get through are published again,
dead-lettered after their bounded attempts, and re-driven by an administrator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit
from docsign.exchange.outbox import DELIVER_TASK, STATUS_TASK, agency_queue, enqueue
from docsign.exchange.statuses import DeliveryState, Party, TransportEvent, next_state
from docsign.models import Delivery, OutboxMessage, StatusEvent, utcnow


def dead_letter(session: Session, delivery_id: int, reason: str) -> bool:
    """Give up on a delivery after its bounded attempts; an admin can re-drive it. False if not queued."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.state != DeliveryState.QUEUED:
        return False
    delivery.state = next_state(delivery.state, TransportEvent.DEAD_LETTER, by=Party.SYSTEM)
    delivery.last_error = reason[:2000]
    session.add(StatusEvent(delivery=delivery, state=DeliveryState(delivery.state).value,
                            description=f"Gửi không thành công: {reason}"))
    audit.record(session, "system", "exchange.dead_letter", agency_id=delivery.exchange.sender_agency_id,
                 object_type="delivery", object_id=delivery.id, details={"reason": reason[:500]})
    return True


def redrive(session: Session, *, actor: str, delivery_ids: Sequence[int] | None = None) -> list[int]:
    """Put dead-lettered deliveries back on their queues (all of them, or those named)."""
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD_LETTER)
    if delivery_ids:
        query = query.where(Delivery.id.in_(delivery_ids))
    moved = []
    for delivery in session.scalars(query):
        delivery.state = next_state(delivery.state, TransportEvent.REDRIVE, by=Party.ADMIN)
        delivery.attempts = 0
        session.add(StatusEvent(delivery=delivery, state=DeliveryState(delivery.state).value,
                                description="Gửi lại / Re-driven"))
        enqueue(session, DELIVER_TASK, delivery.recipient, delivery_id=delivery.id)
        audit.record(session, actor, "exchange.redrive", agency_id=delivery.exchange.sender_agency_id,
                     object_type="delivery", object_id=delivery.id)
        moved.append(delivery.id)
    return moved


def requeue_stale(session: Session, *, older_than: dt.timedelta, max_attempts: int,
                  waiting: Callable[[str], int] | None = None) -> tuple[int, int]:
    """Publish again the deliveries still queued long after their message went out (a broker that lost
    it, a message parked on a dead worker); past ``max_attempts`` they are dead-lettered.

    ``waiting(queue)`` tells how many messages wait in a queue: while a recipient's queue is not empty,
    its old deliveries may simply be in line behind a backlog, and publishing them again would only
    feed the backlog (and dead-letter deliveries that were never lost), so they wait for the next sweep.
    Returns (requeued, dead-lettered)."""
    cutoff = utcnow() - older_than
    stale = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.QUEUED,
                                                   Delivery.updated_at < cutoff)
                            .order_by(Delivery.id).limit(1000).with_for_update(skip_locked=True)).all()
    if not stale or _outbox_backlog(session, cutoff):
        return 0, 0  # the relay cannot publish (broker down): waiting is not the recipient's fault
    in_line = _queues_in_line(waiting)
    requeued = dead = 0
    for delivery in stale:
        queue = agency_queue(delivery.recipient.code)
        if in_line(queue):
            continue
        delivery.attempts += 1
        delivery.updated_at = utcnow()
        if delivery.attempts > max_attempts:
            dead += dead_letter(session, delivery.id, f"no answer after {max_attempts} attempts")
            continue
        enqueue(session, DELIVER_TASK, delivery.recipient, delivery_id=delivery.id)
        requeued += 1
    return requeued, dead


def requeue_unanswered_statuses(session: Session, *, older_than: dt.timedelta, max_attempts: int,
                                waiting: Callable[[str], int] | None = None) -> int:
    """Publish again the status packets (01, 02, 03-06, 13/15/16) the other side has not taken in long
    after they went out: a broker that lost them must not leave the sender without its 01. Each is
    published at most ``max_attempts`` times; returns how many were published again."""
    cutoff = utcnow() - older_than
    unanswered = session.scalars(select(StatusEvent).where(StatusEvent.received_at.is_(None),
                                                           StatusEvent.packet_sha256.is_not(None),
                                                           StatusEvent.created_at < cutoff)
                                 .order_by(StatusEvent.id).limit(1000)).all()
    if not unanswered or _outbox_backlog(session, cutoff):
        return 0
    # The outbox is the record of every publication of a status packet: how often, and when last.
    published: dict[int, list[dt.datetime]] = {e.id: [] for e in unanswered}
    rows = session.execute(select(OutboxMessage.payload, OutboxMessage.published_at, OutboxMessage.created_at)
                           .where(OutboxMessage.task_name == STATUS_TASK,
                                  OutboxMessage.created_at >= unanswered[0].created_at))
    for payload, published_at, created_at in rows:
        times = published.get(int(payload.get("status_event_id", 0)))
        if times is not None:
            times.append(published_at or created_at)
    in_line = _queues_in_line(waiting)
    again = 0
    for event in unanswered:
        times = published[event.id]
        if len(times) >= max_attempts or (times and max(times) >= cutoff):
            continue
        other = event.delivery.other_side(event.actor_agency_id)
        if in_line(agency_queue(other.code)):
            continue
        enqueue(session, STATUS_TASK, other, status_event_id=event.id)
        again += 1
    return again


def _outbox_backlog(session: Session, cutoff: dt.datetime) -> bool:
    """Outbox rows older than ``cutoff`` still unpublished: the broker is unreachable."""
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.published_at.is_(None),
                                                         OutboxMessage.created_at < cutoff).limit(1)) is not None


def _queues_in_line(waiting: Callable[[str], int] | None) -> Callable[[str], bool]:
    """``queue -> True`` while messages wait in it (asked once per queue per sweep)."""
    depth: dict[str, bool] = {}

    def in_line(queue: str) -> bool:
        if waiting is None:
            return False
        if queue not in depth:
            depth[queue] = waiting(queue) > 0
        return depth[queue]

    return in_line


