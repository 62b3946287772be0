"""Serve a test PKI (CRL, OCSP, TSA, CA certificates) over real HTTP on loopback, in a thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, request
from werkzeug.serving import make_server

from docsign.errors import DocsignError
from docsign.pki.authority import PkiStore
from docsign.web import pki as pki_views


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pki_app(store: PkiStore | None, seen: list[str] | None = None) -> Flask:
    """A Flask app with only docsign's /pki views, serving ``store``; the path of every request it answers
    is appended to ``seen`` when given."""
    app = Flask("test-pki")
    if store is not None:
        app.extensions[pki_views.EXTENSION_KEY] = store
    app.register_blueprint(pki_views.bp)
    if seen is not None:
        app.before_request(lambda: seen.append(request.path))  # type: ignore[func-returns-value]

    @app.errorhandler(DocsignError)
    def _error(exc: DocsignError):  # type: ignore[no-untyped-def]
        return exc.message, exc.http_status

    return app


@contextmanager
def serve_pki(store: PkiStore, port: int, seen: list[str] | None = None) -> Iterator[str]:
    """Serve ``store`` at http://127.0.0.1:PORT/pki/... until the block ends (requests' paths into ``seen``)."""
    server = make_server("127.0.0.1", port, pki_app(store, seen), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


class SharedPkiServer:
    """One loopback server for the whole test process that serves the PKI of the test running now.

    The demo installs of a process are copies of one template whose certificates name this server's
    port (tests.support.installs), so the port must stay the same from test to test."""

    def __init__(self) -> None:
        self.app = pki_app(None)
        self.server = make_server("127.0.0.1", free_port(), self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @contextmanager
    def serving(self, store: PkiStore) -> Iterator[str]:
        """Serve ``store`` until the block ends, then what was served before (a module-scoped install's
        store, around a test of its own), or nothing."""
        before = self.app.extensions.get(pki_views.EXTENSION_KEY)
        self.app.extensions[pki_views.EXTENSION_KEY] = store
        try:
            yield self.url
        finally:
            if before is None:
                self.app.extensions.pop(pki_views.EXTENSION_KEY, None)
            else:
                self.app.extensions[pki_views.EXTENSION_KEY] = before


_shared: SharedPkiServer | None = None
_shared_lock = threading.Lock()


def shared_pki_server() -> SharedPkiServer:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SharedPkiServer()
        return _shared


def build_test_pki(directory: Path, port: int, passphrase: bytes = b"test-passphrase") -> PkiStore:
    """A root, an issuing CA, a TSA and an OCSP responder whose URLs point at 127.0.0.1:PORT."""
    from docsign.pki.authority import Profile, name

    store = PkiStore(directory, passphrase, f"http://127.0.0.1:{port}")
    store.add_ca("root", name("Test Root CA", "docsign tests"))
    store.add_ca("issuing", name("Test Issuing CA", "docsign tests"), parent="root")
    store.add_service("tsa", name("Test TSA", "docsign tests"), "root", Profile.TSA)
    store.add_service("ocsp", name("Test OCSP responder", "docsign tests"), "issuing", Profile.OCSP)
    store.save()
    return store
