from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from docsign.exchange.edxml.model import StatusForm
from docsign.models.base import Base, enum_column, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    """Lãnh đạo: signs drafts with a personal signature."""
    CLERK = "clerk"
    """Văn thư: numbers, seals, sends and registers documents."""
    OFFICER = "officer"
    """Chuyên viên: handles incoming documents."""


class Agency(Base):
    """An agency of the directory, with the contact fields of the edXML ``From`` block."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(13), unique=True)
    """QCVN 102 code ``XXX.YY.ZZ.Mnn`` (edXML OrganId)."""
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    organization_in_charge: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(250))
    email: Mapped[str | None] = mapped_column(String(100))
    telephone: Mapped[str | None] = mapped_column(String(20))
    fax: Mapped[str | None] = mapped_column(String(20))
    website: Mapped[str | None] = mapped_column(String(100))
    is_demo: Mapped[bool] = mapped_column(default=False)
    sends_unsigned_packets: Mapped[bool] = mapped_column(default=False)
    """A peer whose system writes edXML packets without an XML signature: its packets are accepted
    unsigned (a signature it does send must still verify)."""
    via_axis: Mapped[bool] = mapped_column(default=False)
    """Reached through the national document axis (VXP), not a docsign queue of this installation."""
    status_form: Mapped[StatusForm] = mapped_column(enum_column(StatusForm), default=StatusForm.MESSAGE_HEADER,
                                                    server_default=StatusForm.MESSAGE_HEADER.value)
    """Which form of edXML status packet this agency's system reads: the ``MessageHeader`` one of the VNPT
    library and the national axis (the default), or QCVN 102's ``Status``."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    parent: Mapped[Agency | None] = relationship(remote_side=[id])
    users: Mapped[list[User]] = relationship(back_populates="agency")

    @property
    def queue(self) -> str:
        """The agency's inbound Celery queue."""
        return f"agency.{self.code}"

    @validates("code")
    def _validate_code(self, _key: str, code: str) -> str:
        from docsign.exchange.agency_codes import validate_agency_code

        return validate_agency_code(code)


class AgencyAlias(Base):
    """An agency's former code (the axis directory's ``oldCode``): packets addressed to it still arrive."""

    __tablename__ = "agency_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(13), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(50))
    position: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(100))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    password_hash: Mapped[str] = mapped_column(String(200))
    """argon2id hash (docsign.security)."""
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="users")


class ApiToken(Base):
    """A bearer token of an agency's system; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    """The token's first characters, shown to admins to tell tokens apart."""
    token_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200), default="documents exchanges")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    agency: Mapped[Agency] = relationship()
