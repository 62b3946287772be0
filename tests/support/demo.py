"""The demo installation with its PKI (CRL, OCSP, TSA) served over HTTP at the settings' public URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docsign.config import Settings, load_settings, prepare_data_dir
from docsign.pki.demo import load_demo_pki
from tests.support.backends import Backend
from tests.support.installs import install_demo
from tests.support.pki_server import shared_pki_server


@contextmanager
def online_demo(tmp: Path, backend: Backend) -> Iterator[Settings]:
    """Demo data whose certificates' revocation URLs answer, as under `docsign run`: a copy of this
    process's demo install for the shared PKI server's URL (tests.support.installs), served by it."""
    server = shared_pki_server()
    settings = load_settings({
        "DOCSIGN_DATA_DIR": str(tmp / "var"), "DOCSIGN_KEYS_DIR": str(tmp / "keys"),
        "DOCSIGN_DATABASE_URL": backend.database, "DOCSIGN_BROKER_URL": backend.broker,
        "DOCSIGN_PUBLIC_URL": server.url,
    })
    prepare_data_dir(settings)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    install_demo(settings)
    with server.serving(load_demo_pki(settings)):
        yield settings
