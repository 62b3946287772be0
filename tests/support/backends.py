"""The database/broker combinations the data-layer and worker tests run on.

Always the embedded defaults (SQLite + the serverless broker). With DOCSIGN_TEST_POSTGRES_URL and
DOCSIGN_TEST_REDIS_URL / DOCSIGN_TEST_AMQP_URL set (as .ci/run does), also PostgreSQL + Redis and
PostgreSQL + RabbitMQ. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import functools
import os
import queue
import subprocess
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES = os.environ.get("DOCSIGN_TEST_POSTGRES_URL")
REDIS = os.environ.get("DOCSIGN_TEST_REDIS_URL")
AMQP = os.environ.get("DOCSIGN_TEST_AMQP_URL")
COPIED_FROM: dict[str, str] = {}
"""Test database URL -> the template database it was created from (tests.support.installs)."""


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
def provision(name: str, tmp: Path, template: Callable[[str], str] | None = None) -> Iterator[Backend]:
    """The backend ``name`` with a database of its own under ``tmp`` or on the PostgreSQL server; with
    ``template`` (given the database URL, returns a database URL of that kind: tests.support.installs),
    a PostgreSQL database starts as a copy of that one (copying it later would cost a DROP DATABASE)."""
    if name == "embedded":
        yield Backend(name, f"sqlite:///{tmp / 'docsign.sqlite'}", f"sqla+sqlite:///{tmp / 'broker.sqlite'}")
        return
    assert POSTGRES is not None
    broker = REDIS if name == "postgres-redis" else AMQP
    assert broker is not None
    broker = worker_broker(broker)
    with postgres_database(POSTGRES, template(POSTGRES) if template else None) as url:
        yield Backend(name, url, broker)


def xdist_worker_index() -> int:
    """0 outside pytest-xdist, else the worker's number (gw0, gw1, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


@functools.cache
def worker_broker(url: str) -> str:
    """The broker namespace of this pytest-xdist worker: the agencies' queues have the same names in every
    test, so two workers sharing a Redis database or a RabbitMQ vhost would take each other's messages.
    Worker N > 0 gets Redis database (base - N) or the vhost docsign-gwN (made once, kept for later runs)."""
    index = xdist_worker_index()
    if index == 0:
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.startswith("redis"):
        base = int(parts.path.strip("/") or 0)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{(base - index) % 16}"))
    vhost = f"docsign-gw{index}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], capture_output=True, timeout=120)  # exists: fine
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True, timeout=120)
    return urllib.parse.urlunsplit(parts._replace(path="/" + vhost))


@contextmanager
def postgres_database(admin_url: str, template_url: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database for one test: empty, or a copy of the database at ``template_url``."""
    from docsign.db import get_engine

    db_name = f"docsign_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    template = f' TEMPLATE "{make_url(template_url).database}"' if template_url else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"{template}'))
    url = make_url(admin_url).set(database=db_name).render_as_string(hide_password=False)
    if template_url:
        COPIED_FROM[url] = template_url
    try:
        yield url
    finally:
        COPIED_FROM.pop(url, None)
        engine = get_engine(url)
        engine.dispose()
        get_engine.cache_clear()
        admin.dispose()
        drop_later(admin_url, db_name)


_drops: queue.Queue[tuple[str, str] | None] = queue.Queue()
_dropper: threading.Thread | None = None
_dropper_lock = threading.Lock()


def drop_later(admin_url: str, db_name: str) -> None:
    """Drop a test database in a background thread: DROP DATABASE waits for a checkpoint of the server
    (seconds on a busy machine), which the next test need not wait for. ``finish_drops`` waits for all."""
    global _dropper
    with _dropper_lock:
        if _dropper is None:
            _dropper = threading.Thread(target=_drop_loop, name="drop-test-databases", daemon=True)
            _dropper.start()
    _drops.put((admin_url, db_name))


def _drop_loop() -> None:
    while (item := _drops.get()) is not None:
        admin_url, db_name = item
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()
        finally:
            _drops.task_done()


def finish_drops() -> None:
    """Wait until every database handed to ``drop_later`` is dropped (the end of the test session)."""
    if _dropper is not None:
        _drops.join()
