"""Status codes of QCVN 102 status packets and the delivery state machine, as one table.

A delivery is one document on its way to one recipient. Both sides keep its state and move it with
:func:`next_state` whenever a status packet (or a transport event) arrives; the table
:data:`TRANSITIONS` is the only place the rules live, and :func:`transition_table_markdown` prints it
for the README.

Choices (not fixed by any source we have; see domain-vn.md §1.6):

- **01 and 03 are never skipped**: a document must arrive (01) and be registered by the clerk (03)
  before anyone reports progress on it. **04 and 05 may be skipped**: 03 → 05, 03 → 06 and 04 → 06 are
  allowed, because receiving systems let a clerk or officer finish a document without a formal
  assignment or a "processing" step.
- **Statuses only move forward.** A repeated status (03 after 03) is not a transition: the exchange
  flow drops duplicate packets before it calls :func:`next_state`.
- **Rejection (02)** is possible only before acceptance: from ``queued`` (the receiving system refuses
  the packet instead of confirming 01) and from ``delivered`` (the clerk returns it). After 03 only the
  sender can take the document back, with a recall.
- **Recall**: the sender sends 13 from any live state (``queued`` up to and including ``finished``);
  not after a rejection, not while a recall is pending and not after a recall was agreed. The receiver
  answers 15 (→ ``recalled``, final) or 16, which puts the delivery back in the state it had before
  the 13: the caller passes that state as ``before_recall`` (it stores it with the delivery).
- **Transport**: ``dead_letter`` is reached from ``queued`` when the transport gives up after its
  bounded attempts; an administrator's ``redrive`` puts it back to ``queued``.
- **Who sends what**: the receiver sends 01-06, 15 and 16; the sender sends 13; the transport
  (system) dead-letters; an administrator re-drives. :func:`check_party` enforces it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, StrEnum

from docsign.errors import InvalidInput
from docsign.exchange.errors import InvalidTransition, WrongParty
from docsign.i18n import N_, english


class StatusCode(StrEnum):
    """The ``StatusCode`` of a status packet; the value is the two-digit code on the wire."""

    ARRIVED = "01"
    REJECTED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    FINISHED = "06"
    RECALL_REQUESTED = "13"
    RECALL_AGREED = "15"
    RECALL_REFUSED = "16"

    @property
    def label_vi(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def label_en(self) -> str:
        return english(self.label_vi)

    @classmethod
    def parse(cls, value: str) -> StatusCode:
        """Read a code leniently (``"3"`` and ``" 03 "`` are 03); unknown codes raise InvalidInput."""
        text = value.strip() if isinstance(value, str) else ""
        if text.isdigit() and len(text) <= 2:
            text = text.zfill(2)
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(code.value for code in cls)
            raise InvalidInput(f"unknown status code {value!r}: the known codes are {known}") from None


_STATUS_LABELS: dict[StatusCode, str] = {
    StatusCode.ARRIVED: N_("Đã đến"),
    StatusCode.REJECTED: N_("Từ chối tiếp nhận"),
    StatusCode.ACCEPTED: N_("Đã tiếp nhận"),
    StatusCode.ASSIGNED: N_("Đã phân công"),
    StatusCode.PROCESSING: N_("Đang xử lý"),
    StatusCode.FINISHED: N_("Hoàn thành"),
    StatusCode.RECALL_REQUESTED: N_("Yêu cầu thu hồi"),
    StatusCode.RECALL_AGREED: N_("Đồng ý thu hồi"),
    StatusCode.RECALL_REFUSED: N_("Từ chối thu hồi"),
}


class TransportEvent(StrEnum):
    """Events that come from the transport or an administrator, not from a status packet."""

    DEAD_LETTER = "dead_letter"
    REDRIVE = "redrive"


Event = StatusCode | TransportEvent


class DeliveryState(StrEnum):
    """State of one delivery (one document to one recipient); stored by value."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    PROCESSING = "processing"
    FINISHED = "finished"
    RECALL_REQUESTED = "recall_requested"
    RECALLED = "recalled"
    DEAD_LETTER = "dead_letter"

    @property
    def label_vi(self) -> str:
        return _STATE_LABELS[self]

    @property
    def label_en(self) -> str:
        return english(self.label_vi)


_STATE_LABELS: dict[DeliveryState, str] = {
    DeliveryState.QUEUED: N_("Đang gửi"),
    DeliveryState.DELIVERED: N_("Đã đến"),
    DeliveryState.REJECTED: N_("Bị từ chối"),
    DeliveryState.ACCEPTED: N_("Đã tiếp nhận"),
    DeliveryState.ASSIGNED: N_("Đã phân công"),
    DeliveryState.PROCESSING: N_("Đang xử lý"),
    DeliveryState.FINISHED: N_("Hoàn thành"),
    DeliveryState.RECALL_REQUESTED: N_("Đang yêu cầu thu hồi"),
    DeliveryState.RECALLED: N_("Đã thu hồi"),
    DeliveryState.DEAD_LETTER: N_("Gửi không thành công"),
}


class Party(StrEnum):
    """Who may cause an event."""

    SENDER = "sender"
    RECEIVER = "receiver"
    SYSTEM = "system"
    ADMIN = "admin"


class _Previous(Enum):
    STATE = "state before the 13"


PREVIOUS = _Previous.STATE
"""Target of 16: the state the delivery had before the recall request."""


@dataclass(frozen=True)
class Transition:
    """One row of the table: ``event`` sent by ``by`` moves ``source`` to ``target``."""

    source: DeliveryState
    event: Event
    target: DeliveryState | _Previous
    by: Party


S, C, T = DeliveryState, StatusCode, TransportEvent
_R, _SND = Party.RECEIVER, Party.SENDER
_LIVE = (S.QUEUED, S.DELIVERED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING, S.FINISHED)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.QUEUED, C.ARRIVED, S.DELIVERED, _R),
    Transition(S.QUEUED, C.REJECTED, S.REJECTED, _R),
    Transition(S.QUEUED, T.DEAD_LETTER, S.DEAD_LETTER, Party.SYSTEM),
    Transition(S.DEAD_LETTER, T.REDRIVE, S.QUEUED, Party.ADMIN),
    Transition(S.DELIVERED, C.REJECTED, S.REJECTED, _R),
    Transition(S.DELIVERED, C.ACCEPTED, S.ACCEPTED, _R),
    Transition(S.ACCEPTED, C.ASSIGNED, S.ASSIGNED, _R),
    Transition(S.ACCEPTED, C.PROCESSING, S.PROCESSING, _R),
    Transition(S.ACCEPTED, C.FINISHED, S.FINISHED, _R),
    Transition(S.ASSIGNED, C.PROCESSING, S.PROCESSING, _R),
    Transition(S.ASSIGNED, C.FINISHED, S.FINISHED, _R),
    Transition(S.PROCESSING, C.FINISHED, S.FINISHED, _R),
    *(Transition(state, C.RECALL_REQUESTED, S.RECALL_REQUESTED, _SND) for state in _LIVE),
    Transition(S.RECALL_REQUESTED, C.RECALL_AGREED, S.RECALLED, _R),
    Transition(S.RECALL_REQUESTED, C.RECALL_REFUSED, PREVIOUS, _R),
)
del S, C, T

_TABLE: dict[tuple[DeliveryState, Event], Transition] = {(t.source, t.event): t for t in TRANSITIONS}
SENT_BY: dict[Event, Party] = {t.event: t.by for t in TRANSITIONS}
"""Who sends each status code or causes each transport event."""


def to_event(value: Event | str) -> Event:
    """A status code (``"05"``, ``"5"``) or a transport event name (``"redrive"``)."""
    if isinstance(value, StatusCode | TransportEvent):
        return value
    try:
        return TransportEvent(value)
    except ValueError:
        return StatusCode.parse(value)


def allowed_events(current: DeliveryState | str) -> tuple[Event, ...]:
    """Events that may follow ``current`` (for buttons and API documentation)."""
    state = DeliveryState(current)
    return tuple(t.event for t in TRANSITIONS if t.source is state)


def check_party(code_or_event: Event | str, by: Party | str) -> None:
    """Raise :class:`WrongParty` unless ``by`` is the side that sends ``code_or_event``."""
    event, party = to_event(code_or_event), Party(by)
    if SENT_BY[event] is not party:
        sender = SENT_BY[event].value
        raise WrongParty(f"{_name(event)} is sent by the {sender} of the document, not by the {party.value}")


def next_state(
    current: DeliveryState | str,
    code_or_event: Event | str,
    *,
    before_recall: DeliveryState | str | None = None,
    by: Party | str | None = None,
) -> DeliveryState:
    """The state after ``code_or_event``, or :class:`InvalidTransition` saying what must come first.

    ``before_recall`` is needed to answer a recall with 16: the state before the 13. With ``by``, the
    sending side is checked too (:func:`check_party`).
    """
    state, event = DeliveryState(current), to_event(code_or_event)
    transition = _TABLE.get((state, event))
    if transition is None:
        raise InvalidTransition(
            f"{_name(event)} cannot follow {_name_state(state)}: {_explain(state, event)}",
            current=state.value,
            event=event.value,
        )
    if by is not None:
        check_party(event, by)
    if transition.target is PREVIOUS:
        if before_recall is None:
            raise ValueError("answering a recall with 16 needs before_recall, the state before the 13")
        previous = DeliveryState(before_recall)
        if previous not in _LIVE:
            raise ValueError(f"{previous.value!r} cannot be the state before a recall request")
        return previous
    assert isinstance(transition.target, DeliveryState)
    return transition.target


def transition_table_markdown() -> str:
    """The table as Markdown, for the README."""
    rows = ["| from | event | to | sent by |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        target = t.target.value if isinstance(t.target, DeliveryState) else f"({t.target.value})"
        event = f"{t.event.value} {t.event.label_en.lower()}" if isinstance(t.event, StatusCode) else t.event.value
        rows.append(f"| {t.source.value} | {event} | {target} | {t.by.value} |")
    return "\n".join(rows)


# --- messages ------------------------------------------------------------------------------------

# The status that leads into each state, to say "cannot follow 01" rather than "cannot follow delivered".
_CODE_OF_STATE = {t.target: t.event for t in TRANSITIONS if isinstance(t.event, StatusCode) and t.target != PREVIOUS}
_PROGRESS = (StatusCode.ARRIVED, StatusCode.ACCEPTED, StatusCode.ASSIGNED, StatusCode.PROCESSING, StatusCode.FINISHED)
_PHRASE = {
    StatusCode.ARRIVED: "arrive (01)",
    StatusCode.ACCEPTED: "be accepted (03)",
    StatusCode.ASSIGNED: "be assigned (04)",
    StatusCode.PROCESSING: "be processed (05)",
}


def _name(event: Event) -> str:
    return f"status {event.value}" if isinstance(event, StatusCode) else f"'{event.value}'"


def _name_state(state: DeliveryState) -> str:
    code = _CODE_OF_STATE.get(state)
    return code.value if code is not None else f"'{state.value}'"


def _explain(state: DeliveryState, event: Event) -> str:
    if state is DeliveryState.REJECTED:
        return "the receiver rejected the document (02); nothing can follow"
    if state is DeliveryState.RECALLED:
        return "the document was recalled (15); nothing can follow"
    if state is DeliveryState.RECALL_REQUESTED:
        return "a recall (13) is pending; the receiver must first agree (15) or refuse (16)"
    if event in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED):
        return "no recall (13) is pending"
    if state is DeliveryState.DEAD_LETTER:
        return "delivery failed after repeated attempts; an administrator must first re-drive it"
    if event is TransportEvent.REDRIVE:
        return "only a delivery that failed (dead_letter) can be re-driven"
    if event is TransportEvent.DEAD_LETTER:
        return "only a delivery still queued can be dead-lettered"
    if event is StatusCode.REJECTED:
        return "the document was already accepted (03) and can no longer be rejected; the sender may recall it (13)"
    if _CODE_OF_STATE.get(state) is event:
        return f"the document is already at {event.value}; a repeated status changes nothing"
    steps = _path_to(state, event)
    if steps:
        return "the document must first " + " and ".join(_PHRASE[step] for step in steps)
    return f"statuses only move forward and the document is already at {_name_state(state)} ({state.value})"


def _path_to(state: DeliveryState, event: Event) -> list[StatusCode]:
    """Shortest list of progress codes (01-05) that leads from ``state`` to where ``event`` is allowed."""
    seen, queue = {state}, deque([(state, list[StatusCode]())])
    while queue:
        here, steps = queue.popleft()
        if steps and (here, event) in _TABLE:
            return steps
        for code in _PROGRESS:
            row = _TABLE.get((here, code))
            if row is not None and isinstance(row.target, DeliveryState) and row.target not in seen:
                seen.add(row.target)
                queue.append((row.target, [*steps, code]))
    return []
