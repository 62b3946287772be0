"""Rate limits (Flask-Limiter) that hold across every web process of an install.

The counters live in Redis when the install has it (``DOCSIGN_RATELIMIT_STORAGE``, by default the
broker when the broker is Redis), otherwise in the main database (:class:`DatabaseStorage`, a
storage for the ``limits`` library): one SQL upsert per counted request, atomic on SQLite and
PostgreSQL alike, so N gunicorn workers share one budget instead of N.

One round trip per counted request (:class:`CountingFixedWindow`): the increment also returns the
window's expiry, which the response's X-RateLimit-* and Retry-After headers are made from, instead of
asking the store twice more (count, then expiry) after the view.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar

from flask import Flask, current_app, g, has_app_context
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from limits.util import WindowStats
from sqlalchemy import case, delete, select
from sqlalchemy.exc import SQLAlchemyError

from docsign.config import Settings
from docsign.db import dialect_insert, get_engine
from docsign.models import RateLimitCounter

DATABASE_SCHEME = "docsign+database"
SWEEP_PROBABILITY = 0.01
"""Share of counted requests that also delete expired windows (keeps the table small without a job)."""

EXTENSION_KEY = "docsign.limiter"


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_limit_counters`` table of the main database."""

    STORAGE_SCHEME: ClassVar[list[str]] = [DATABASE_SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *, database_url: str = "",
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        if not database_url:
            raise ValueError("DatabaseStorage needs the database_url storage option")
        self.engine = get_engine(database_url)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_window(key, expiry, amount)[0]

    def incr_window(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """:meth:`incr` that also returns when the window ends (seconds since the epoch)."""
        now = time.time()
        table = RateLimitCounter.__table__
        insert = dialect_insert(self.engine)(table)
        expired = table.c.expires_at <= now
        statement = insert.values(key=key, count=amount, expires_at=now + expiry).on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"count": case((expired, amount), else_=table.c.count + amount),
                  "expires_at": case((expired, now + expiry), else_=table.c.expires_at)},
        ).returning(table.c.count, table.c.expires_at)
        with self.engine.begin() as conn:
            count, expires_at = conn.execute(statement).one()
            if random.random() < SWEEP_PROBABILITY:  # housekeeping, not security
                conn.execute(delete(table).where(table.c.expires_at <= now))
        return int(count), float(expires_at)

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else time.time()

    def _row(self, key: str) -> tuple[int, float] | None:
        table = RateLimitCounter.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(table.c.count, table.c.expires_at).where(
                table.c.key == key, table.c.expires_at > time.time())).first()
        return (int(row[0]), float(row[1])) if row else None

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(delete(RateLimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        table = RateLimitCounter.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == key))


_REDIS_INCR_WINDOW = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""
"""The ``limits`` library's incr_expire.lua, also answering the key's TTL (one round trip for both)."""
_WINDOWS = "docsign_rate_windows"
"""Attribute of ``flask.g``: the windows this request counted, by key (the headers' source)."""


class CountingFixedWindow(FixedWindowRateLimiter):
    """The fixed-window strategy Flask-Limiter uses ("fixed-window"), with each hit's count and window
    end kept for this request, so the headers Flask-Limiter adds after the view need no further query.

    Counting is unchanged: every hit is the store's atomic increment, and the request is refused when
    the count exceeds the limit. A window this request did not count (a limit only tested) is read from
    the store as before."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        self._script: Any = None

    def _incr_window(self, key: str, expiry: int, amount: int) -> tuple[int, float] | None:
        if isinstance(self.storage, RedisStorage):
            if self._script is None:
                self._script = self.storage.get_connection().register_script(_REDIS_INCR_WINDOW)
            count, ttl = self._script([self.storage.prefixed_key(key)], [expiry, amount])
            return int(count), max(int(ttl), 0) + time.time()
        if isinstance(self.storage, DatabaseStorage):
            return self.storage.incr_window(key, expiry, amount)
        return None

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        key = item.key_for(*identifiers)
        counted = self._incr_window(key, item.get_expiry(), cost)
        if counted is None:
            return super().hit(item, *identifiers, cost=cost)
        count, expires_at = counted
        if has_app_context():
            windows = g.setdefault(_WINDOWS, {})
            windows[key] = WindowStats(expires_at, max(0, item.amount - count))
        return count <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        windows = g.get(_WINDOWS) if has_app_context() else None
        known = windows.get(item.key_for(*identifiers)) if windows else None
        return known if known is not None else super().get_window_stats(item, *identifiers)


def limit_string(rate: tuple[int, int]) -> str:
    """A ``(requests, seconds)`` setting as a ``limits`` string."""
    requests, seconds = rate
    return f"{requests} per {seconds} second"


# endpoint -> the setting that limits its POSTs per client IP (None: no limit)
LIMITED_ENDPOINTS: dict[str, Callable[[Settings], tuple[int, int] | None]] = {
    "verify.api_verify": lambda s: s.verify_rate,
    "verify.page_verify": lambda s: s.verify_rate,
    "ui.login": lambda s: s.login_rate,
    "citizen.result": lambda s: s.verify_rate,
    "citizen.compare_copy": lambda s: s.verify_rate,
    "citizen.download": lambda s: s.verify_rate,
}
SCOPES = {"verify.api_verify": "verify", "verify.page_verify": "verify", "ui.login": "login",
          "citizen.result": "verify", "citizen.compare_copy": "verify", "citizen.download": "verify"}
"""The page and the API of the verifier share one budget per client (a one-stop-shop result's page too)."""
COUNTED_GETS = {"citizen.result", "citizen.download"}
"""Limited on GET as well: a QR lookup is a verification (or a download), and tokens must not be probed."""


def init_app(app: Flask, app_settings: Settings) -> Limiter:
    """One limiter per app (its storage belongs to the app's install), wrapped around the limited views."""
    if app_settings.ratelimit_storage == "database":
        storage_uri, options = f"{DATABASE_SCHEME}://", {"database_url": app_settings.database_url}
    else:
        storage_uri, options = app_settings.ratelimit_storage, {}
    # Counters belong to this install (its database): two installs sharing one Redis keep their own budgets.
    install = hashlib.sha256(app_settings.database_url.encode()).hexdigest()[:16]
    limiter = Limiter(key_func=get_remote_address, strategy="fixed-window", headers_enabled=True,
                      storage_uri=storage_uri, storage_options=options, key_prefix=f"docsign-{install}",
                      swallow_errors=False)  # a store that does not answer must not let a flood through
    limiter.init_app(app)
    # Flask-Limiter takes a strategy by name only; this one is "fixed-window" counting in one round trip.
    limiter._limiter = CountingFixedWindow(limiter.storage)
    for endpoint, rate_of in LIMITED_ENDPOINTS.items():
        rate = rate_of(app_settings)
        if rate is not None:
            app.view_functions[endpoint] = limiter.shared_limit(
                limit_string(rate), SCOPES[endpoint],
                methods=["GET", "POST"] if endpoint in COUNTED_GETS else ["POST"])(app.view_functions[endpoint])
    app.extensions[EXTENSION_KEY] = limiter
    return limiter


def storage() -> Storage:
    """The app's counter store."""
    return current_app.extensions[EXTENSION_KEY].storage  # type: ignore[no-any-return]
