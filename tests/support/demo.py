"""The demo installation with its PKI (CRL, OCSP, TSA) served over HTTP at the settings' public URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docsign import migrations
from docsign.config import Settings, load_settings, prepare_data_dir
from docsign.db import session_scope
from docsign.demo import seed_demo
from docsign.pki.demo import load_demo_pki
from tests.support.backends import Backend
from tests.support.pki_server import free_port, serve_pki


@contextmanager
def online_demo(tmp: Path, backend: Backend) -> Iterator[Settings]:
    """Demo data whose certificates' revocation URLs answer, as under `docsign run`."""
    port = free_port()
    settings = load_settings({
        "DOCSIGN_DATA_DIR": str(tmp / "var"), "DOCSIGN_KEYS_DIR": str(tmp / "keys"),
        "DOCSIGN_DATABASE_URL": backend.database, "DOCSIGN_BROKER_URL": backend.broker,
        "DOCSIGN_PUBLIC_URL": f"http://127.0.0.1:{port}",
    })
    prepare_data_dir(settings)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        seed_demo(session, settings)
    with serve_pki(load_demo_pki(settings), port):
        yield settings
