"""The registers of Decree 30/2020: the outgoing register (sổ đăng ký văn bản đi, Art. 15-16) and the
arrivals register (sổ đăng ký văn bản đến, Art. 22), one book per agency, year and numbering series."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docsign.models.agencies import Agency
from docsign.models.base import Base, enum_column, utcnow
from docsign.models.documents import Document


class BookKind(enum.StrEnum):
    LEGAL = "legal"
    """Văn bản quy phạm pháp luật: each type (Nghị quyết, Quyết định...) has its own series (Art. 15.1a)."""
    OTHER = "other"
    """Every other outgoing document (administrative and specialised): one series."""
    INCOMING = "incoming"
    """Sổ văn bản đến: arrival numbers (Art. 22.2)."""


class RegisterBook(Base):
    """One numbering series of one agency for one year; numbers start at 01 on 1 January."""

    __tablename__ = "register_books"
    __table_args__ = (UniqueConstraint("agency_id", "year", "kind", "series"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    year: Mapped[int]
    kind: Mapped[BookKind] = mapped_column(enum_column(BookKind))
    series: Mapped[str] = mapped_column(String(100), default="")
    """The legal normative document type of a LEGAL book; empty for the others."""
    last_number: Mapped[int] = mapped_column(default=0)
    """The highest number written in the book. Allocation updates this row first, which locks it (row
    lock on PostgreSQL, the write lock on SQLite) until the transaction that uses the number ends."""
    locked_at: Mapped[dt.datetime | None]
    """Written by every allocation: the write that takes the lock before the book is read."""

    agency: Mapped[Agency] = relationship()


class OutgoingEntry(Base):
    """A line of the outgoing register: one number given to one document."""

    __tablename__ = "register_outgoing"
    __table_args__ = (UniqueConstraint("book_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("register_books.id"), index=True)
    number: Mapped[int]
    notation: Mapped[str] = mapped_column(String(30))
    issued_on: Mapped[dt.date]
    type_name: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(500))
    signer: Mapped[str | None] = mapped_column(String(100))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    book: Mapped[RegisterBook] = relationship()
    document: Mapped[Document | None] = relationship()

    @property
    def number_text(self) -> str:
        """Decree 30: numbers below 10 get a leading zero."""
        return f"{self.number:02d}"


class ArrivalEntry(Base):
    """A line of the arrivals register (the fields of Decree 30 Appendix IV and VI)."""

    __tablename__ = "register_arrivals"
    __table_args__ = (UniqueConstraint("book_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("register_books.id"), index=True)
    number: Mapped[int | None]
    """Arrival number (số đến); None for a duplicate arrival, which takes no number."""
    arrived_on: Mapped[dt.date] = mapped_column(index=True)
    """Arrival date in Vietnam time."""
    arrived_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    issuer_code: Mapped[str] = mapped_column(String(13))
    issuer_name: Mapped[str] = mapped_column(String(200))
    code_number: Mapped[str | None] = mapped_column(String(11))
    code_notation: Mapped[str | None] = mapped_column(String(30))
    issued_on: Mapped[dt.date | None]
    type_name: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(500))
    edxml_document_id: Mapped[str | None] = mapped_column(String(100), index=True)
    handling_unit: Mapped[str | None] = mapped_column(String(200))
    """Đơn vị hoặc người nhận: who handles it."""
    due_date: Mapped[dt.date | None]
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), unique=True)
    """The inbox document this arrival filed."""
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("register_arrivals.id"))
    """The first arrival of the same document (same DocumentId, or same number, notation and issuer)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    book: Mapped[RegisterBook] = relationship()
    document: Mapped[Document | None] = relationship()
    duplicate_of: Mapped[ArrivalEntry | None] = relationship(remote_side=[id])

    @property
    def number_text(self) -> str:
        return f"{self.number:02d}" if self.number is not None else ""

    @property
    def code_text(self) -> str:
        """ "05/UBND-VP"."""
        number = self.code_number or ""
        if number.isdigit() and len(number) < 2:
            number = number.zfill(2)
        return f"{number}/{self.code_notation}" if self.code_notation else number


class PaperSending(Base):
    """A numbered outgoing document the clerk still sent on paper to one recipient: what the adoption
    report counts as "still sent on paper" (docsign.reports.adoption). Recorded by the clerk, once per
    entry and recipient."""

    __tablename__ = "paper_sendings"
    __table_args__ = (UniqueConstraint("entry_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    """The sending agency: the agency of the entry's book (kept here so the report counts without a join)."""
    entry_id: Mapped[int] = mapped_column(ForeignKey("register_outgoing.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    """Nơi nhận: the body the paper copy went to, as the clerk wrote it."""
    sent_on: Mapped[dt.date] = mapped_column(index=True)
    """Date the paper copy left, in Vietnam time."""
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    entry: Mapped[OutgoingEntry] = relationship()
