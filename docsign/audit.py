"""The hash-chained audit log: the one place that records who did what.

Each agency has its own chain (events without an agency form the system's chain): an event's hash
covers its content and the hash of the agency's previous event, so editing or deleting an event breaks
its chain from that point on, which ``verify_chain`` (``docsign audit verify``) reports. One chain per
agency lets agencies record in parallel; a single chain would serialise every writer of the province.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from docsign.models import AuditEvent, utcnow

GENESIS = "0" * 64
_ADVISORY_LOCK = 0x646F63  # with the agency id: serialises appends to one chain on PostgreSQL (SQLite
# serialises all writers itself)


def _digest(prev_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        [prev_hash, event.created_at.isoformat(), event.actor, event.agency_id, event.action,
         event.object_type, event.object_id, event.details],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(session: Session, actor: str, action: str, *, agency_id: int | None = None,
           object_type: str | None = None, object_id: object = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event in the caller's transaction (it commits or rolls back with the change it records)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key, :chain)"),
                        {"key": _ADVISORY_LOCK, "chain": agency_id or 0})
    same_chain = AuditEvent.agency_id.is_(None) if agency_id is None else AuditEvent.agency_id == agency_id
    last = session.scalar(select(AuditEvent.hash).where(same_chain).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        created_at=utcnow().replace(microsecond=0), actor=actor, agency_id=agency_id, action=action,
        object_type=object_type, object_id=None if object_id is None else str(object_id), details=details or {},
    )
    event.prev_hash = last or GENESIS
    event.hash = _digest(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainCheck:
    events: int
    first_broken_id: int | None
    """Id of the first event whose hash or link does not match, or None when the chain is intact."""

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


def verify_chain(session: Session) -> ChainCheck:
    last_of_chain: dict[int | None, str] = {}
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=500)):
        count += 1
        prev = last_of_chain.get(event.agency_id, GENESIS)
        if event.prev_hash != prev or _digest(prev, event) != event.hash:
            return ChainCheck(count, event.id)
        last_of_chain[event.agency_id] = event.hash
    return ChainCheck(count, None)
