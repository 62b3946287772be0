"""The database/broker combinations the data-layer and worker tests run on.

Always the embedded defaults (SQLite + the serverless broker). With DOCSIGN_TEST_POSTGRES_URL and
DOCSIGN_TEST_REDIS_URL / DOCSIGN_TEST_AMQP_URL set (as .ci/run does), also PostgreSQL + Redis and
PostgreSQL + RabbitMQ. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES = os.environ.get("DOCSIGN_TEST_POSTGRES_URL")
REDIS = os.environ.get("DOCSIGN_TEST_REDIS_URL")
AMQP = os.environ.get("DOCSIGN_TEST_AMQP_URL")


@dataclass(frozen=True)
class Backend:
    name: str
    database: str
    broker: str


def backend_names() -> list[str]:
    names = ["embedded"]
    if POSTGRES and REDIS:
        names.append("postgres-redis")
    if POSTGRES and AMQP:
        names.append("postgres-rabbitmq")
    return names


@contextmanager
def provision(name: str, tmp: Path) -> Iterator[Backend]:
    if name == "embedded":
        yield Backend(name, f"sqlite:///{tmp / 'docsign.sqlite'}", f"sqla+sqlite:///{tmp / 'broker.sqlite'}")
        return
    assert POSTGRES is not None
    broker = REDIS if name == "postgres-redis" else AMQP
    assert broker is not None
    with postgres_database(POSTGRES) as url:
        yield Backend(name, url, broker)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    from docsign.db import get_engine

    db_name = f"docsign_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    url = make_url(admin_url).set(database=db_name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine = get_engine(url)
        engine.dispose()
        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
