"""The one task base class: a database session per task, retries only for retryable errors."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from docsign.config import Settings
from docsign.db import session_scope
from docsign.errors import DocsignError

RETRY_BASE_SECONDS = 2
RETRY_CAP_SECONDS = 300


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
    return random.uniform(0, min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** retries))


class DocsignTask(Task):  # type: ignore[misc]
    abstract = True
    max_retries = 8
    acks_late = True
    reject_on_worker_lost = True
    give_up: Any = None
    """Optional function ``give_up(task, args, kwargs, exc)``: what to record when a task fails for good
    (given to ``@app.task(give_up=...)``; Celery makes it a method, so ``task`` is the task itself)."""

    @property
    def settings(self) -> Settings:
        return self.app.conf.docsign_settings

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.settings.database_url) as session:
            yield session

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if self.give_up is not None:
            self.give_up(args, kwargs, exc)  # bound: the task is passed as ``task``

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except DocsignError as exc:
            if exc.retryable:
                raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
            raise
        except OperationalError as exc:  # the database went away: try again later
            raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
