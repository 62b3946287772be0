from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docsign.models.agencies import Agency
from docsign.models.base import Base, utcnow


class MailMessage(Base):
    """A signed e-mail docsign owes someone: written with the change that calls for it, sent by a worker.

    The row is the message's record (what, to whom, when sent, the last failure) and makes sending
    idempotent: a task redelivered after the mail went out finds ``sent_at`` set and sends nothing.
    """

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    """The agency whose seal signs the message."""
    kind: Mapped[str] = mapped_column(String(20))
    """arrived, rejected, status (exchange notifications) or document (a PDF sent by a clerk)."""
    recipients: Mapped[str] = mapped_column(Text)
    """Comma-separated checked addresses."""
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    """The blob attached (the issued PDF), for kind ``document``."""
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    agency: Mapped[Agency] = relationship()
