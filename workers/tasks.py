"""Task shells: load ids, call a domain function, let the base class retry. Names are explicit and stable:
they are the wire contract between the outbox relay and the workers."""

from __future__ import annotations

import logging
import socket
from typing import Any

from docsign.errors import DocsignError
from docsign.exchange import service as exchange_service
from docsign.ltv import service as ltv_service
from docsign.mail import service as mail_service
from workers.app import celery_app
from workers.base import DocsignTask

log = logging.getLogger(__name__)


@celery_app.task(base=DocsignTask, name="docsign.ping", bind=True)
def ping(self: DocsignTask, nonce: str) -> dict[str, Any]:
    """Round-trip check used by health probes and the smoke test."""
    log.info("ping %s", nonce)
    return {"pong": nonce, "worker": socket.gethostname(), "queue": self.request.delivery_info.get("routing_key")}


def _dead_letter(task: DocsignTask, args: Any, kwargs: Any, exc: BaseException) -> None:
    """Deliveries that failed for good (or ran out of retries): dead-lettered, for an admin to re-drive.
    Those already handled are left as they are."""
    reason = exc.message if isinstance(exc, DocsignError) else f"{type(exc).__name__}: {exc}"
    with task.session() as session:
        for delivery_id in (kwargs or {}).get("delivery_ids", ()):
            exchange_service.dead_letter(session, int(delivery_id), reason)


# The outcome of a delivery or a status is recorded in the exchange tables; a task result would only be
# one more row to write per message, so none is kept.
@celery_app.task(base=DocsignTask, name=exchange_service.DELIVER_TASK, bind=True, give_up=_dead_letter,
                 ignore_result=True)
def deliver(self: DocsignTask, delivery_ids: list[int]) -> int:
    """The recipient's queue: verify each document and file it in the inbox (or answer 02); the deliveries
    the relay sent together are filed in one transaction, each alone if one of them fails."""
    return self.each(delivery_ids, "delivery_ids",
                     lambda session, delivery_id: exchange_service.receive(session, self.settings, delivery_id))


@celery_app.task(base=DocsignTask, name=exchange_service.STATUS_TASK, bind=True, ignore_result=True)
def status(self: DocsignTask, status_event_ids: list[int]) -> int:
    """The other side's queue: status packets arrived (those the relay had waiting for this agency)."""
    with self.session() as session:
        return exchange_service.status_reached(session, self.settings, status_event_ids)


def _mail_given_up(task: DocsignTask, args: Any, kwargs: Any, exc: BaseException) -> None:
    """A message refused for good or out of attempts: the reason stays on its row."""
    reason = exc.message if isinstance(exc, DocsignError) else f"{type(exc).__name__}: {exc}"
    if (kwargs or {}).get("mail_id") is not None:
        with task.session() as session:
            mail_service.record_failure(session, int(kwargs["mail_id"]), reason)


@celery_app.task(base=DocsignTask, name=mail_service.MAIL_TASK, bind=True, give_up=_mail_given_up,
                 ignore_result=True)
def send_mail(self: DocsignTask, mail_id: int) -> bool:
    """Sign one e-mail with the agency's seal and hand it to the mail server (retried while it is away)."""
    with self.session() as session:
        return mail_service.deliver(session, self.settings, mail_id)


def _ltv_given_up(task: DocsignTask, args: Any, kwargs: Any, exc: BaseException) -> None:
    """Out of attempts, or refused for good: the document shows ``failed`` with the reason until the next check
    queues it again."""
    reason = exc.message if isinstance(exc, DocsignError) else f"{type(exc).__name__}: {exc}"
    if (kwargs or {}).get("document_id") is not None:
        with task.session() as session:
            ltv_service.record_failure(session, int(kwargs["document_id"]), reason, final=True)


@celery_app.task(base=DocsignTask, name=ltv_service.MAINTAIN_TASK, bind=True, give_up=_ltv_given_up,
                 ignore_result=True)
def ltv_maintain(self: DocsignTask, document_id: int) -> str:
    """Extend a kept document to B-LT, or renew its evidence (B-LTA) when due; retried while the TSA or a
    responder is away, each failed attempt recorded on the document."""
    try:
        with self.session() as session:
            return ltv_service.maintain(session, self.settings, document_id).action
    except DocsignError as exc:
        if exc.retryable and self.request.retries < self.settings.delivery_attempts - 1:
            with self.session() as session:  # the last attempt is recorded by _ltv_given_up
                ltv_service.record_failure(session, document_id, exc.message, final=False)
        raise


@celery_app.task(base=DocsignTask, name=ltv_service.CHECK_TASK, bind=True, ignore_result=True)
def ltv_check(self: DocsignTask) -> int:
    """The beat job (every DOCSIGN_LTV_CHECK_HOURS): queue the documents whose evidence is due for renewal."""
    with self.session() as session:
        return ltv_service.schedule_due(session, self.settings)
