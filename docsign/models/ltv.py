from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docsign.models.base import Base, utcnow
from docsign.models.documents import Document


class LtvRecord(Base):
    """The long-term evidence of one kept document (docsign.ltv): how far it was extended, until when its
    evidence holds, and what the last attempt to extend or renew it gave."""

    __tablename__ = "ltv_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), unique=True)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    """pending (an extension or renewal is queued or being retried), ok, failed (given up: the reason is in
    ``last_error``; the next check queues it again)."""
    level: Mapped[str | None] = mapped_column(String(12))
    """PAdES level the kept bytes reach: B-LT (validation data) or B-LTA (plus document timestamps)."""
    revision_sha256: Mapped[str | None] = mapped_column(String(64))
    """The revision the evidence below was read from (the document's current one once extended)."""
    evidence_until: Mapped[dt.datetime | None]
    """When the evidence stops holding (docsign.ltv.evidence_until); renewed before that."""
    renewals: Mapped[int] = mapped_column(default=0)
    """Document timestamps docsign added to renew the evidence."""
    attempts: Mapped[int] = mapped_column(default=0)
    """Failed attempts since the last success."""
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    document: Mapped[Document] = relationship()
