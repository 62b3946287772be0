from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docsign.models.agencies import Agency, User
from docsign.models.base import Base, enum_column, utcnow


class KeyKind(enum.StrEnum):
    SEAL = "seal"
    """The agency's organisation signature (chữ ký số của cơ quan, tổ chức)."""
    PERSONAL = "personal"
    """A competent person's signature (chữ ký số của người có thẩm quyền)."""


class KeySource(enum.StrEnum):
    PKCS12 = "pkcs12"
    PEM = "pem"
    PKCS11 = "pkcs11"


class KeyRef(Base):
    """Where a signing key lives; the private key itself never enters the database."""

    __tablename__ = "key_refs"
    __table_args__ = (
        CheckConstraint("(agency_id IS NULL) <> (user_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[KeyKind] = mapped_column(enum_column(KeyKind))
    source: Mapped[KeySource] = mapped_column(enum_column(KeySource))
    location: Mapped[str] = mapped_column(String(1000))
    """A file path (relative paths are under the keys dir), ``KEY,CERT[,CHAIN]`` for PEM, or a pkcs11: URI."""
    pkcs11_module: Mapped[str | None] = mapped_column(String(500))
    passphrase_env: Mapped[str | None] = mapped_column(String(100))
    """Environment variable holding the passphrase or PIN; none means the data dir's keystore passphrase."""
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str] = mapped_column(String(200))
    image_blob: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of a PNG in the blob store: the handwritten signature or the red seal."""
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency | None] = relationship()
    user: Mapped[User | None] = relationship()
