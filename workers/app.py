"""The Celery app, built from docsign's settings alone (no Flask app is created here)."""

from __future__ import annotations

import datetime as dt
import signal
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun, worker_process_init

from docsign import logs
from docsign.config import Settings, load_settings
from docsign.db import get_engine

DEFAULT_QUEUE = "docsign"


def agency_queue(code: str) -> str:
    return f"agency.{code}"


def create_celery(settings: Settings) -> Celery:
    app = Celery("docsign", broker=settings.broker_url, backend=settings.result_backend, set_as_current=True)
    app.conf.update(
        task_default_queue=DEFAULT_QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Acknowledge only after the task's work is committed; a killed worker's task is redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        result_expires=24 * 3600,
        result_extended=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="Asia/Ho_Chi_Minh",
        enable_utc=True,
        imports=("workers.tasks", "workers.axis_tasks"),
    )
    if settings.broker_url.startswith(("redis", "rediss")):
        # Redis redelivers an unacknowledged message (its worker died) only after this long.
        app.conf.broker_transport_options = {"visibility_timeout": settings.redeliver_after_seconds}
    if settings.embedded_broker:
        app.conf.broker_transport = "workers.embedded_broker:Transport"
        app.conf.worker_enable_remote_control = False  # the serverless transport has no fanout exchange
    from docsign.ltv.service import CHECK_TASK, QUEUE

    # Run by the beat of `docsign run` / `docsign worker --beat` (one per deployment); its state file is
    # <data dir>/beat-schedule (BEAT_SCHEDULE_FILE).
    app.conf.beat_schedule = {"ltv-check": {"task": CHECK_TASK, "options": {"queue": QUEUE},
                                            "schedule": dt.timedelta(hours=settings.ltv_check_hours)}}
    app.conf.docsign_settings = settings
    return app


BEAT_SCHEDULE_FILE = "beat-schedule"


@worker_process_init.connect
def _fresh_database_connections(**_: Any) -> None:
    """A forked pool process must not share the parent's pooled database connections (two processes
    talking over one socket corrupt each other's sessions): drop them without closing the parent's."""
    get_engine(celery_app.conf.docsign_settings.database_url).dispose(close=False)


@worker_process_init.connect
def _leave_sigterm_to_the_main_process(**_: Any) -> None:
    """A SIGTERM to the whole process group (systemd, ``kill -- -PGID``) also reaches the pool processes;
    dying of it mid-task left the main process waiting on lost workers in warm shutdown for more than
    20 s. The main process owns the shutdown: it closes the pool, each pool process finishes its task and
    exits, and the kernel kills them if the main process dies (Celery sets PDEATHSIG). Celery already
    ignores SIGINT here for the same reason, which is why Ctrl-C stopped at once."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@setup_logging.connect
def _json_logs(**_: Any) -> None:
    logs.configure("worker")


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """A task sent while handling a request (or a task) carries its request id, unless it has one."""
    request_id = logs.current_request_id()
    if headers is not None and request_id and not headers.get(logs.TASK_HEADER):
        headers[logs.TASK_HEADER] = request_id


@task_prerun.connect
def _adopt_request_id(task: Any = None, **_: Any) -> None:
    request_id = getattr(task.request, logs.TASK_HEADER, None) if task is not None else None
    task.request.docsign_request_id_token = logs.set_request_id(request_id or logs.new_request_id())


@task_postrun.connect
def _drop_request_id(task: Any = None, **_: Any) -> None:
    token = getattr(task.request, "docsign_request_id_token", None) if task is not None else None
    if token is not None:
        logs.reset_request_id(token)


celery_app = create_celery(load_settings())
