"""Task shells. Names are explicit and stable: they are the wire contract between web and workers."""

from __future__ import annotations

import socket
from typing import Any

from workers.app import celery_app
from workers.base import DocsignTask


@celery_app.task(base=DocsignTask, name="docsign.ping", bind=True)
def ping(self: DocsignTask, nonce: str) -> dict[str, Any]:
    """Round-trip check used by health probes and the smoke test."""
    return {"pong": nonce, "worker": socket.gethostname(), "queue": self.request.delivery_info.get("routing_key")}
