"""Structured JSON logs with a request id that follows the work from the web request into Celery tasks.

The id is kept in a context variable: the web app sets it per request (from an incoming ``X-Request-ID``
or a new one), the outbox relay and ``send_task`` carry it in the message headers, and the worker sets it
again for the task, so one grep finds a document's whole path.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
import uuid
from typing import NoReturn

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "docsign_request_id"
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("docsign_request_id", default=None)
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_request_id(offered: str | None = None) -> str:
    """The caller's id when it is a sane token (no log injection), otherwise a fresh one."""
    return offered if offered and _ACCEPTABLE.fullmatch(offered) else uuid.uuid4().hex


def set_request_id(value: str | None) -> contextvars.Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def exit_at_once(code: int) -> NoReturn:
    """End a process that has stopped cleanly (its work committed, its messages acknowledged) without
    the interpreter's teardown: tearing down the modules of a process with the app loaded costs about
    2 s of CPU, and on a busy machine the processes of ``docsign run`` spent most of docker's 10 s on it."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: nothing left to save
            stream.flush()
    os._exit(code)


def configure(process: str) -> None:
    """JSON lines on standard error for every logger of this process (DOCSIGN_LOG_FORMAT=text keeps
    the plain format for a person at a terminal)."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    if os.environ.get("DOCSIGN_LOG_FORMAT", "json").lower() == "text":
        handler.setFormatter(logging.Formatter(f"[%(asctime)s: %(levelname)s/{process}] %(message)s"))
    else:
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                           rename_fields={"levelname": "level", "asctime": "time"},
                                           static_fields={"process": process}, timestamp=False))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)
