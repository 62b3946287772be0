from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docsign.exchange.statuses import DeliveryState, Party
from docsign.models.agencies import Agency
from docsign.models.base import Base, enum_column, utcnow
from docsign.models.documents import Document, DocumentRevision


class Exchange(Base):
    """A document sent by one agency to one or more others (one edXML packet)."""

    __tablename__ = "exchanges"
    __table_args__ = (
        # A DocumentId names one new document; updates and revocations reuse it (BussinessDocType 1-3).
        Index("uq_exchanges_new_document_id", "edxml_document_id", unique=True,
              sqlite_where=text("business_type = 0"), postgresql_where=text("business_type = 0")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("document_revisions.id"))
    sender_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    edxml_document_id: Mapped[str] = mapped_column(String(100))
    business_type: Mapped[int] = mapped_column(default=0)
    subject: Mapped[str] = mapped_column(String(500))
    priority: Mapped[int] = mapped_column(default=0)
    due_date: Mapped[dt.date | None]
    packet_sha256: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship()
    revision: Mapped[DocumentRevision] = relationship()
    sender: Mapped[Agency] = relationship()
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="exchange", order_by="Delivery.id")


class Delivery(Base):
    """One recipient of an exchange; the unique pair is what makes receipt idempotent."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("exchange_id", "recipient_agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id"), index=True)
    recipient_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    state: Mapped[DeliveryState] = mapped_column(enum_column(DeliveryState, 20), default=DeliveryState.QUEUED,
                                                 index=True)
    before_recall: Mapped[DeliveryState | None] = mapped_column(enum_column(DeliveryState, 20, 'beforerecall'))
    """The state before a pending recall request (13), restored when the receiver refuses it (16)."""
    attempts: Mapped[int] = mapped_column(default=0)
    """How often the transport tried to deliver; past the limit the delivery is dead-lettered."""
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    exchange: Mapped[Exchange] = relationship(back_populates="deliveries")
    recipient: Mapped[Agency] = relationship()
    inbox_document: Mapped[Document | None] = relationship(
        primaryjoin="Delivery.id == foreign(Document.received_via_delivery_id)", viewonly=True, uselist=False)
    """The document filed in the recipient's inbox: linked from the document's side, whose unique
    ``received_via_delivery_id`` is what makes receipt idempotent (one link, kept in one place)."""
    events: Mapped[list[StatusEvent]] = relationship(back_populates="delivery", order_by="StatusEvent.id")

    @property
    def inbox_document_id(self) -> int | None:
        return self.inbox_document.id if self.inbox_document is not None else None

    def party_of(self, agency_id: int | None) -> Party | None:
        """Which side of this delivery an agency is on (None: neither). The one place this is decided."""
        if agency_id is not None and agency_id == self.recipient_agency_id:
            return Party.RECEIVER
        if agency_id is not None and agency_id == self.exchange.sender_agency_id:
            return Party.SENDER
        return None

    def other_side(self, agency_id: int | None) -> Agency:
        """The agency a status packet written by ``agency_id`` goes to: the sender, unless the sender wrote it."""
        return self.exchange.sender if self.party_of(agency_id) is Party.RECEIVER else self.recipient


class StatusEvent(Base):
    """A step in a delivery's history: an edXML status code, or a transport event (queued, dead letter)."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    actor_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    staff: Mapped[str | None] = mapped_column(String(100))
    packet_sha256: Mapped[str | None] = mapped_column(String(64))
    """The edXML status packet carrying this code, in the blob store."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    received_at: Mapped[dt.datetime | None]
    """When the status packet reached the other side (for 01-06/15/16, the sender's side)."""
    receipt_verified: Mapped[bool | None]
    """For a 01: whether its signed receipt (DocumentId, SHA-256 of the PDF, arrival time, under the
    recipient's seal) verified on the sender's side; None before it arrived or for other codes."""
    receipt_note: Mapped[str | None] = mapped_column(Text)
    """Who signed the receipt, or why it was refused."""

    delivery: Mapped[Delivery] = relationship(back_populates="events")


class OutboxMessage(Base):
    """A task to publish, written in the same transaction as the change that calls for it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_name: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class AxisMessage(Base):
    """One packet exchanged through the national document axis (VXP), either way.

    Outgoing: a delivery (``delivery:<id>``) or a status packet (``status:<id>``) to publish with
    sendEdoc; the row is claimed before the call and holds the axis's DocId after it, so a message is
    published once however often the outbox offers it. Incoming: an axis DocId fetched with getEdoc,
    unique, so a packet the axis offers again (our ``done`` was lost) is acknowledged, not filed twice."""

    __tablename__ = "axis_messages"
    __table_args__ = (UniqueConstraint("direction", "local_ref"), UniqueConstraint("direction", "axis_doc_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))
    """``out`` or ``in``."""
    message_type: Mapped[str] = mapped_column(String(10))
    """The axis's messagetype: ``edoc`` or ``status``."""
    local_ref: Mapped[str | None] = mapped_column(String(40))
    """``delivery:<id>`` or ``status:<id>``: what this message is on our side."""
    axis_doc_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    """out: pending, sent, failed. in: done, failed (what updateStatus told the axis)."""
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    packet_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
