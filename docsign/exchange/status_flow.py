"""Status packets: the ones a delivery's sides write (01/02 on receipt, 03-06 and 13/15/16 by people),
and the other side taking them in (:func:`status_reached`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from docsign import audit, validation
from docsign.config import Settings
from docsign.errors import Conflict, DocsignError, NotFound, PermissionDenied
from docsign.exchange import edxml, receipts
from docsign.exchange.directory import get_agency
from docsign.exchange.outbox import STATUS_TASK, enqueue
from docsign.exchange.send import max_packet_bytes, organization
from docsign.exchange.statuses import DeliveryState, StatusCode, next_state
from docsign.mail import service as mail
from docsign.models import Agency, Delivery, Exchange, StatusEvent, utcnow
from docsign.storage import BlobStore

log = logging.getLogger(__name__)


def status_event(session: Session, store: BlobStore, delivery: Delivery, packet: edxml.DocumentPacket,
                  code: StatusCode, by: Agency, description: str, staff: str | None = None,
                  seal: Callable[[bytes], bytes] | None = None) -> StatusEvent:
    other = delivery.other_side(by.id)
    # Written in the form the other side's system reads (agencies.status_form).
    status = edxml.status_packet_for(packet, organization(by), code, description=description[:500],
                                     staff_info=edxml.StaffInfo(staff=staff or ""), form=other.status_form)
    status_bytes = edxml.build_status_packet(status)
    blob = store.put_bytes(seal(status_bytes) if seal is not None else status_bytes)
    event = StatusEvent(delivery=delivery, code=code.value, state=DeliveryState(delivery.state).value,
                        description=description, actor_agency_id=by.id, staff=staff, packet_sha256=blob.key)
    session.add(event)
    session.flush()
    enqueue(session, STATUS_TASK, other, status_event_id=event.id)
    return event


def status_reached(session: Session, settings: Settings, status_event_ids: Sequence[int]) -> int:
    """The other side has these status packets: read each and note when it arrived (idempotent).

    The relay sends the status packets waiting for one agency together (:func:`publish_outbox`), so
    they are taken in here in one transaction. A packet that cannot be read or answers another
    document is logged and left unanswered (the relay's sweeper offers it again a bounded number of
    times); the others are recorded. Returns how many were newly recorded."""
    # What checking a receipt and noting it read, loaded with the events: no lazy load (and the autoflush
    # it would cause) per event, so the batch's updates go out together at commit.
    delivery = joinedload(StatusEvent.delivery)
    events = session.scalars(select(StatusEvent).where(StatusEvent.id.in_(status_event_ids))
                             .options(delivery.joinedload(Delivery.exchange).joinedload(Exchange.revision),
                                      delivery.joinedload(Delivery.exchange).joinedload(Exchange.sender),
                                      delivery.joinedload(Delivery.recipient))).all()
    for missing in sorted(set(status_event_ids) - {e.id for e in events}):
        log.error("status event %s does not exist: message ignored", missing)
    store = BlobStore(settings.blob_dir)
    now = utcnow()
    recorded = 0
    with session.no_autoflush:  # the reads in the loop (seal certificates) need none of its updates
        for event in events:
            if event.received_at is not None:
                continue
            if event.packet_sha256:
                data = store.read_bytes(event.packet_sha256)
                try:
                    packet = edxml.parse_status_packet(data)
                except DocsignError as exc:
                    log.error("status packet %s cannot be read: %s", event.id, exc.message)
                    continue
                if packet.response_for.document_id != event.delivery.exchange.edxml_document_id:
                    log.error("status packet %s answers another document: not recorded", event.id)
                    continue
                receipts.record_receipt(session, settings, event, data)
            event.received_at = now
            mail.on_status(session, settings, event)
            recorded += 1
    return recorded


def record_status(session: Session, settings: Settings, delivery_id: int, code: str, *, by_agency_code: str,
                  actor: str, staff: str | None = None, description: str | None = None) -> StatusEvent:
    """A person moves a delivery on: the recipient 03-06 or 15/16, the sender 13 (recall)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    by = get_agency(session, by_agency_code)
    party = delivery.party_of(by.id)
    if party is None:
        raise PermissionDenied(f"{by.code} is neither the sender nor the recipient of this delivery")
    status = StatusCode.parse(code)
    staff = validation.text(staff, "staff", max_length=100)
    description = validation.text(description, "description", max_length=1000, multiline=True)
    if status in (StatusCode.ARRIVED, StatusCode.REJECTED) and delivery.state == DeliveryState.QUEUED:
        raise Conflict("01 and 02 are given by the receiving system when the document arrives")
    target = next_state(delivery.state, status, by=party, before_recall=delivery.before_recall)
    if status is StatusCode.RECALL_REQUESTED:
        delivery.before_recall = delivery.state
    elif status in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED):
        delivery.before_recall = None
    delivery.state = target
    session.flush()
    store = BlobStore(settings.blob_dir)
    assert delivery.exchange.packet_sha256 is not None
    packet = edxml.parse_document_packet(store.read_bytes(delivery.exchange.packet_sha256),
                                         max_bytes=max_packet_bytes(settings))
    text = description or f"{status.label_vi} / {status.label_en}"
    event = status_event(session, store, delivery, packet, status, by, text, staff)
    audit.record(session, actor, f"exchange.status.{status.value}", agency_id=by.id, object_type="delivery",
                 object_id=delivery.id, details={"state": target.value})
    return event


