"""The one task base class: a database session per task, retries only for retryable errors."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from docsign import metrics
from docsign.config import Settings
from docsign.db import session_scope
from docsign.errors import DocsignError

log = logging.getLogger(__name__)
RETRY_BASE_SECONDS = 2
RETRY_CAP_SECONDS = 300


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
    return random.uniform(0, min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** retries))


def _retryable(exc: DocsignError | OperationalError) -> bool:
    """A fault that may pass: a retryable docsign error, or the database away (OperationalError)."""
    return isinstance(exc, OperationalError) or exc.retryable


class DocsignTask(Task):  # type: ignore[misc]
    abstract = True
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

    def each(self, items: list[int], argument: str, work: Callable[[Session, int], object]) -> int:
        """Do ``work`` for each of ``items`` (ids), for a task that takes them as ``argument``.

        All of them in one transaction first (a burst the relay sent together: one commit, and the locks
        and reads the items share taken once); if any item fails, nothing of that transaction is kept and
        each item goes again in a transaction of its own: an item that fails for good is given up alone
        (``give_up``) and the others go on; items that failed for now (retryable errors, the database
        away) are retried together, later, with backoff. Returns how many items were done."""
        if len(items) > 1:
            try:
                with self.session() as session:
                    for item in items:
                        work(session, item)
                return len(items)
            except Exception as exc:  # rolled back whole: each item alone below, so only the failing one fails
                log.info("%s: %d items together failed (%s); each goes again alone", self.name, len(items),
                         exc.message if isinstance(exc, DocsignError) else type(exc).__name__)
        later: list[int] = []
        error: BaseException | None = None
        done = 0
        for item in items:
            try:
                with self.session() as session:
                    work(session, item)
                done += 1
            except (DocsignError, OperationalError) as exc:
                if _retryable(exc):
                    later.append(item)
                    error = exc
                else:
                    self._give_up_item(argument, item, exc)
            except Exception as exc:  # a bug must not hold up the other items: record it, go on
                log.exception("%s %s failed", self.name, item)
                self._give_up_item(argument, item, exc)
        if later:
            raise self._retry_later(error, kwargs={argument: later})
        return done

    def _retry_later(self, exc: BaseException | None, **options: Any) -> BaseException:
        """Celery's retry, with backoff and jitter; after DOCSIGN_DELIVERY_ATTEMPTS attempts in all it
        re-raises ``exc`` and the task fails for good (``give_up``)."""
        metrics.TASK_RETRIES.labels(self.name).inc()
        return self.retry(exc=exc, countdown=backoff_seconds(self.request.retries),  # type: ignore[no-any-return]
                          max_retries=self.settings.delivery_attempts - 1, **options)

    def _give_up_item(self, argument: str, item: int, exc: BaseException) -> None:
        log.warning("%s %s given up: %s", self.name, item, exc.message if isinstance(exc, DocsignError) else exc)
        if self.give_up is None:
            return
        try:
            self.give_up((), {argument: [item]}, exc)
        except Exception:  # e.g. the database went away meanwhile: the relay's sweeper finds the item later
            log.exception("%s %s: recording the failure failed", self.name, item)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if self.give_up is not None:
            self.give_up(args, kwargs, exc)  # bound: the task is passed as ``task``

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (DocsignError, OperationalError) as exc:
            if not _retryable(exc) or self.request.retries >= self.settings.delivery_attempts - 1:
                raise  # for good (or ``each`` already spent the last try)
            raise self._retry_later(exc) from exc
