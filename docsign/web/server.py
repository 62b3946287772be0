"""gunicorn, embedded: the production WSGI server for `docsign web` and `docsign run`."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from docsign.config import Settings


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from docsign.web.app import create_app

        return create_app(self.settings)


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    _Server(settings, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": 4,
        "worker_class": "gthread",
        "timeout": 120,
        "graceful_timeout": 15,
        "accesslog": "-",
        "preload_app": False,
        "worker_exit": _worker_exit,
    }).run()


def _worker_exit(_arbiter: Any, _worker: Any) -> None:
    """A web process that stopped cleanly ends without the interpreter's teardown (see logs.exit_at_once)."""
    import sys

    from docsign import logs

    stopping = sys.exc_info()[1]
    if isinstance(stopping, SystemExit) and stopping.code in (None, 0):
        logs.exit_at_once(0)
