"""The exchange flow's entry points for its callers (CLI, web, workers): one import, while each concern
lives in its own module — sending (send), checking signatures and the verdict cache (verdicts),
receiving (receive), status packets (status_flow), the outbox (outbox) and its sweeper (sweeper).

send → one transaction writes the exchange, a delivery per recipient, the edXML packet, outbox rows
and an audit event → the relay publishes the outbox → ``receive`` runs on the recipient's queue,
verifies every signature and that the seal belongs to the sender, files the document in the
recipient's inbox and answers with a status packet (01, or 02 with the reasons) → the status reaches
the sender's side (``status_reached``). People move the delivery on with :func:`record_status`.
"""

from __future__ import annotations

from docsign.exchange.outbox import (
    BATCHES,
    DELIVER_TASK,
    REQUEST_ID_KEY,
    STATUS_TASK,
    agency_queue,
    enqueue,
    publish_outbox,
)
from docsign.exchange.receive import Outcome, receive
from docsign.exchange.send import (
    VN_TZ,
    SendRequest,
    import_packet,
    max_packet_bytes,
    organization,
    packet_fields,
    pdf_path_bytes,
    read_packet,
    send,
)
from docsign.exchange.status_flow import record_status, status_reached
from docsign.exchange.sweeper import dead_letter, redrive, requeue_stale, requeue_unanswered_statuses
from docsign.exchange.verdicts import RECEIPT_VERDICT_SECONDS, RECEIPT_VERDICTS, seal_problems

__all__ = [
    "BATCHES",
    "DELIVER_TASK",
    "RECEIPT_VERDICTS",
    "RECEIPT_VERDICT_SECONDS",
    "REQUEST_ID_KEY",
    "STATUS_TASK",
    "VN_TZ",
    "Outcome",
    "SendRequest",
    "agency_queue",
    "dead_letter",
    "enqueue",
    "import_packet",
    "max_packet_bytes",
    "organization",
    "packet_fields",
    "pdf_path_bytes",
    "publish_outbox",
    "read_packet",
    "receive",
    "record_status",
    "redrive",
    "requeue_stale",
    "requeue_unanswered_statuses",
    "seal_problems",
    "send",
    "status_reached",
]
