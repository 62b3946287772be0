"""Fresh installs made by copying, once per test process, a migrated database and a demo install.

Migrating a database and seeding the demo (its PKI: twelve RSA keys) cost seconds, and hundreds of tests
start from one of the two. Each is built once per pytest process (per xdist worker) by the real code
(``migrations.upgrade``, ``seed_demo``) and then copied into every test's own database and folders:
SQLite through its backup API, PostgreSQL with ``CREATE DATABASE ... TEMPLATE``. A test still gets a
database, data dir and keys dir of its own, and the tests of migrating and seeding themselves call them.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from docsign import migrations
from docsign.config import Settings, load_settings, prepare_data_dir, sqlite_path
from docsign.db import get_engine, session_factory, session_scope
from docsign.pki.trust import REVOCATION_CACHE, ROOTS_CACHE
from tests.support.backends import COPIED_FROM, POSTGRES

_lock = threading.Lock()
_root: Path | None = None
_postgres_templates: list[str] = []


@dataclass(frozen=True)
class _Template:
    database: str
    """a SQLite file's URL or a PostgreSQL database's URL (used as a template only)"""
    data_dir: Path | None
    keys_dir: Path | None


_migrated: dict[str, _Template] = {}
_demos: dict[tuple[str, str], _Template] = {}


def _kind(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


def _workdir() -> Path:
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="docsign-templates-"))
        atexit.register(cleanup)
    return _root


def cleanup() -> None:
    """Remove the templates (the end of the test session; again at exit, which finds nothing left)."""
    global _root
    with _lock:
        if _root is not None:
            shutil.rmtree(_root, ignore_errors=True)
            _root = None
        _migrated.clear()
        _demos.clear()
        if _postgres_templates and POSTGRES:
            admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for name in _postgres_templates:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            _postgres_templates.clear()


def _new_database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'docsign.sqlite'}"
    assert POSTGRES is not None
    name = f"docsign_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _postgres_templates.append(name)
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


def _release(database_url: str) -> None:
    """Close this process's connections to a database (a PostgreSQL template must have none)."""
    get_engine(database_url).dispose()
    session_factory.cache_clear()
    get_engine.cache_clear()


def copy_database(template_url: str, target_url: str) -> None:
    """Make the database at ``target_url`` a copy of the one at ``template_url`` (same kind)."""
    if _kind(target_url) == "sqlite":
        source, target = sqlite_path(template_url), sqlite_path(target_url)
        assert source is not None and target is not None
        # The backup API copies page by page into the live file: right even if an engine already has it open.
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        return
    if COPIED_FROM.get(target_url) == template_url:
        return  # created as a copy of it (tests.support.backends.provision)
    assert POSTGRES is not None
    _release(target_url)
    name = make_url(target_url).database
    template = make_url(template_url).database
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()


def migrated_template(database_url: str) -> str:
    """The URL of a database of the kind of ``database_url`` (SQLite, PostgreSQL) migrated to head."""
    kind = _kind(database_url)
    with _lock:
        if kind not in _migrated:
            folder = _workdir() / f"migrated-{kind}"
            folder.mkdir()
            url = _new_database(kind, folder)
            migrations.upgrade(url)
            _release(url)
            _migrated[kind] = _Template(url, None, None)
        return _migrated[kind].database


def demo_template_database(database_url: str, public_url: str) -> str:
    """The URL of the demo template database of the kind of ``database_url`` for ``public_url``."""
    return _demo_template(database_url, public_url).database


def _demo_template(database_url: str, public_url: str) -> _Template:
    from docsign.demo import seed_demo

    kind = _kind(database_url)
    key = (kind, public_url)
    with _lock:
        if key not in _demos:
            folder = _workdir() / f"demo-{kind}-{len(_demos)}"
            folder.mkdir()
            url = _new_database(kind, folder)
            settings = load_settings({
                "DOCSIGN_DATA_DIR": str(folder / "var"), "DOCSIGN_KEYS_DIR": str(folder / "keys"),
                "DOCSIGN_DATABASE_URL": url, "DOCSIGN_PUBLIC_URL": public_url,
                "DOCSIGN_BROKER_URL": f"sqla+sqlite:///{folder / 'broker.sqlite'}",
            })
            prepare_data_dir(settings)
            settings.keys_dir.mkdir(parents=True, exist_ok=True)
            migrations.upgrade(url)
            with session_scope(url) as session:
                seed_demo(session, settings)
            _release(url)
            _demos[key] = _Template(url, settings.data_dir, settings.keys_dir)
        return _demos[key]


def install_migrated(settings: Settings) -> None:
    """Give ``settings``' (empty) database the schema at head, copied from the migrated template; then
    ``migrations.upgrade`` finds it at head, as on a real install's second start. A database created as a
    copy of a template (all are at head) is left as it is."""
    if settings.database_url not in COPIED_FROM:
        copy_database(migrated_template(settings.database_url), settings.database_url)
    migrations.upgrade(settings.database_url)


def install_demo(settings: Settings) -> None:
    """Turn the fresh install ``settings`` into the demo install `seed_demo` makes (same database rows,
    demo PKI, keystore passphrase and audit key and heads), copied from this process's template for its
    database kind and public URL."""
    template = _demo_template(settings.database_url, settings.public_url)
    assert template.data_dir is not None and template.keys_dir is not None
    copy_database(template.database, settings.database_url)
    # Every copy has the same keys: what an earlier test fetched about them (an OCSP answer saying
    # "revoked") must not reach this one, as it could not when each test made its own keys.
    REVOCATION_CACHE.clear()
    ROOTS_CACHE.clear()
    shutil.copytree(template.data_dir, settings.data_dir, dirs_exist_ok=True)
    shutil.copytree(template.keys_dir, settings.keys_dir, dirs_exist_ok=True)
    prepare_data_dir(settings)  # binds the audit log to this install again (same files, now copied)
