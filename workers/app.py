"""The Celery app, built from docsign's settings alone (no Flask app is created here)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

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
    app.conf.docsign_settings = settings
    return app


@worker_process_init.connect
def _fresh_database_connections(**_: Any) -> None:
    """A forked pool process must not share the parent's pooled database connections (two processes
    talking over one socket corrupt each other's sessions): drop them without closing the parent's."""
    get_engine(celery_app.conf.docsign_settings.database_url).dispose(close=False)


celery_app = create_celery(load_settings())
