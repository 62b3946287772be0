from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docsign.models.agencies import Agency, User
from docsign.models.base import Base, enum_column, utcnow


class DocumentOrigin(enum.StrEnum):
    DRAFTED = "drafted"
    """Văn bản đi: uploaded and signed here."""
    RECEIVED = "received"
    """Văn bản đến: arrived from another agency."""


class Document(Base):
    """A document of one agency; its bytes live in revisions, one per signing or upload."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    origin: Mapped[DocumentOrigin] = mapped_column(enum_column(DocumentOrigin), default=DocumentOrigin.DRAFTED)
    title: Mapped[str] = mapped_column(String(500))
    document_type: Mapped[str | None] = mapped_column(String(100))
    code_number: Mapped[str | None] = mapped_column(String(30))
    """11 characters by QCVN 102; received documents keep what other systems write (up to 30)."""
    code_notation: Mapped[str | None] = mapped_column(String(30))
    promulgation_date: Mapped[dt.date | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_via_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", use_alter=True),
                                                                 unique=True)
    """For a received document, the delivery that brought it: unique, so a redelivered message can never
    make a second inbox entry."""
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True)
    """For a received update or replacement (BussinessDocType 2, 3): the inbox document it supersedes."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    citizen_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    """One-stop-shop result ("kết quả một cửa"): the unguessable token of its public page /verify/d/<token>,
    printed as a QR code in the seal's block; None for any other document."""
    citizen_public: Mapped[bool] = mapped_column(default=False)
    """The agency lets anyone holding the QR download the PDF; otherwise the citizen uploads their copy."""

    agency: Mapped[Agency] = relationship()
    created_by: Mapped[User | None] = relationship()
    previous_version: Mapped[Document | None] = relationship(remote_side=[id])
    revisions: Mapped[list[DocumentRevision]] = relationship(
        back_populates="document", order_by="DocumentRevision.number", cascade="all, delete-orphan")

    @property
    def current(self) -> DocumentRevision | None:
        return self.revisions[-1] if self.revisions else None


class DocumentRevision(Base):
    """One version of a document's bytes, kept in the blob store under its SHA-256."""

    __tablename__ = "document_revisions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    number: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    """Blob key of the PDF bytes."""
    size: Mapped[int]
    action: Mapped[str] = mapped_column(String(20))
    """What made this revision: upload, approve, issue, appendix, income, copy, receive."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(back_populates="revisions")
    signatures: Mapped[list[Signature]] = relationship(back_populates="revision")


class Signature(Base):
    """A signature docsign applied; it produced ``revision``."""

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("document_revisions.id"), index=True)
    field_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(12))
    signer_common_name: Mapped[str] = mapped_column(String(200))
    signer_serial: Mapped[str] = mapped_column(String(64))
    key_ref_id: Mapped[int | None] = mapped_column(ForeignKey("key_refs.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    position: Mapped[str | None] = mapped_column(String(100))
    """The signer's position when signing (the edXML SignerInfo/Position of the approve)."""
    signing_prefix: Mapped[str | None] = mapped_column(String(100))
    """TM., KT., TL. ... line (SignerInfo/Competence)."""

    revision: Mapped[DocumentRevision] = relationship(back_populates="signatures")
