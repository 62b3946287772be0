from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from docsign.models.base import Base, utcnow


class AuditEvent(Base):
    """An append-only, hash-chained, MAC-authenticated record of who did what (docsign.audit writes and verifies it)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    """``user:LOGIN``, ``token:PREFIX``, ``agency:CODE`` or ``system``."""
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    seq: Mapped[int | None] = mapped_column()
    """Position in the agency's chain, from 1 (covered by ``mac``)."""
    mac: Mapped[str | None] = mapped_column(String(64))
    """HMAC-SHA256 of the chain, ``seq`` and ``hash`` under the audit key kept outside the database; None
    only for events recorded before MACs existed (vouched for by the head file's adoption line)."""
