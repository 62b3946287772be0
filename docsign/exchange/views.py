"""Read models of exchanges for the CLI, the API and the UI (plain dicts, JSON-ready)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from docsign.errors import NotFound
from docsign.exchange.statuses import DeliveryState
from docsign.models import Agency, Exchange
from docsign.models.base import utcnow


def _agency(agency: Agency) -> dict[str, str]:
    return {"code": agency.code, "name": agency.name}


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _receipt(verified: bool | None, note: str | None) -> dict[str, Any] | None:
    """A 01's signed receipt as the sender checked it (None for other codes, or before it arrived)."""
    if verified is None:
        return None
    return {"verified": verified, "note": note}


def exchange_summary(session: Session, exchange_id: str) -> dict[str, Any]:
    exchange = session.get(Exchange, exchange_id)
    if exchange is None:
        raise NotFound(f"no exchange {exchange_id}")
    return {
        "id": exchange.id,
        "document_id": exchange.edxml_document_id,
        "subject": exchange.subject,
        "business_type": exchange.business_type,
        "sender": _agency(exchange.sender),
        "created_at": _time(exchange.created_at),
        "sha256": exchange.revision.sha256,
        "deliveries": [
            {
                "id": d.id,
                "recipient": _agency(d.recipient),
                "state": d.state,
                "state_label": DeliveryState(d.state).label_vi,
                "attempts": d.attempts,
                "inbox_document_id": d.inbox_document_id,
                "last_error": d.last_error,
                "history": [
                    {"at": _time(e.created_at), "code": e.code, "state": e.state, "description": e.description,
                     "staff": e.staff, "reached_other_side_at": _time(e.received_at),
                     "receipt": _receipt(e.receipt_verified, e.receipt_note)}
                    for e in d.events
                ],
            }
            for d in exchange.deliveries
        ],
        "as_of": _time(utcnow()),
    }
