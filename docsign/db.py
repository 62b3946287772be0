"""Engines and sessions: one ``session_scope()`` for the CLI and workers; Flask closes its session per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from docsign.config import create_private_file, sqlite_path
from docsign.errors import ServiceUnavailable, StorageError


@lru_cache(maxsize=8)
def get_engine(database_url: str) -> Engine:
    """One engine per URL per process (engines pool connections and are expensive to make)."""
    if database_url.startswith("sqlite"):
        sqlite_file = sqlite_path(database_url)
        if sqlite_file is not None and sqlite_file.parent.is_dir():
            with suppress(StorageError):  # SQLite itself then says why it cannot open the file
                create_private_file(sqlite_file)  # before SQLite creates it with the umask's mode
        engine = create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         connect_args={"connect_timeout": 5})


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the web app and the worker read while one of them writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@lru_cache(maxsize=8)
def session_factory(database_url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(database_url), expire_on_commit=False)


@contextmanager
def session_scope(database_url: str) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back otherwise."""
    session = session_factory(database_url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def transaction_memo(session: Session, name: str) -> dict:  # type: ignore[type-arg]
    """A dict that lives as long as the session's current transaction: what the transaction has read or
    locked once and may reuse (a register book it holds, an audit chain's head, an agency's seal
    certificates). Forgotten with the transaction, and on any rollback, a savepoint's included."""
    transaction = session.get_transaction()
    kept = session.info.get(_MEMO)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_MEMO] = (transaction, {})
    return kept[1].setdefault(name, {})  # type: ignore[no-any-return]


_MEMO = "docsign.transaction_memo"


@event.listens_for(Session, "after_soft_rollback")
def _forget_memo(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_MEMO, None)


def dialect_insert(bind: Engine | Session):  # type: ignore[no-untyped-def]
    """``insert`` of the bind's dialect, for ``on_conflict_do_update``/``do_nothing`` (SQLite and PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def check_database(database_url: str) -> None:
    """Raise ServiceUnavailable with a one-line reason when the database does not answer."""
    try:
        with get_engine(database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServiceUnavailable(f"the database does not answer ({reason})") from None
