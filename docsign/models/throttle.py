"""Counters the web app shares across its processes: login back-off and Flask-Limiter's rate windows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from docsign.models.base import Base, utcnow


class LoginThrottle(Base):
    """Wrong passwords in a row for one account (``account:<login>``) or one client (``ip:<address>``)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    locks: Mapped[int] = mapped_column(default=0)
    """Locks in a row; each one lasts twice as long as the one before (back-off)."""
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RateLimitCounter(Base):
    """One fixed window of a Flask-Limiter limit when the install has no Redis (docsign.web.limiter)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    """Seconds since the epoch (time.time()) when the window ends."""
