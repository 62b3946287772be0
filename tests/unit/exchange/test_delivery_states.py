from __future__ import annotations

import itertools

import pytest

from docsign.errors import Conflict, InvalidInput, PermissionDenied
from docsign.exchange import statuses
from docsign.exchange.errors import InvalidTransition, WrongParty
from docsign.exchange.statuses import (
    PREVIOUS,
    SENT_BY,
    TRANSITIONS,
    DeliveryState,
    Party,
    StatusCode,
    TransportEvent,
    allowed_events,
    check_party,
    next_state,
    to_event,
    transition_table_markdown,
)

S, C, T = DeliveryState, StatusCode, TransportEvent
ALL_EVENTS = [*StatusCode, *TransportEvent]
ALLOWED = {(t.source, t.event) for t in TRANSITIONS}


@pytest.mark.parametrize("row", [t for t in TRANSITIONS if t.target is not PREVIOUS], ids=str)
def test_every_allowed_transition(row: statuses.Transition) -> None:
    assert next_state(row.source, row.event) is row.target
    assert next_state(row.source.value, row.event.value, by=row.by) is row.target  # as stored in the database


@pytest.mark.parametrize("before", [S.QUEUED, S.DELIVERED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING, S.FINISHED])
def test_recall_refused_goes_back_to_the_state_before_the_request(before: DeliveryState) -> None:
    pending = next_state(before, C.RECALL_REQUESTED, by=Party.SENDER)
    assert pending is S.RECALL_REQUESTED
    assert next_state(pending, "16", before_recall=before.value, by=Party.RECEIVER) is before
    assert next_state(pending, "15") is S.RECALLED


def test_recall_refused_needs_the_previous_state() -> None:
    with pytest.raises(ValueError, match="before_recall"):
        next_state(S.RECALL_REQUESTED, C.RECALL_REFUSED)
    with pytest.raises(ValueError, match="cannot be the state before a recall"):
        next_state(S.RECALL_REQUESTED, C.RECALL_REFUSED, before_recall=S.REJECTED)


def test_a_whole_life() -> None:
    state = S.QUEUED
    for event in [T.DEAD_LETTER, T.REDRIVE, "01", "03", "04", "05", "06"]:
        state = next_state(state, event)
    assert state is S.FINISHED


@pytest.mark.parametrize(
    ("current", "event", "message"),
    [
        (S.DELIVERED, "05", "status 05 cannot follow 01: the document must first be accepted (03)"),
        (S.DELIVERED, "06", "status 06 cannot follow 01: the document must first be accepted (03)"),
        (S.QUEUED, "03", "status 03 cannot follow 'queued': the document must first arrive (01)"),
        (S.QUEUED, "05", "status 05 cannot follow 'queued': the document must first arrive (01) and be accepted (03)"),
        (S.PROCESSING, "04", "statuses only move forward and the document is already at 05 (processing)"),
        (S.FINISHED, "03", "statuses only move forward"),
        (S.ACCEPTED, "03", "a repeated status changes nothing"),
        (S.ACCEPTED, "02", "can no longer be rejected; the sender may recall it (13)"),
        (S.REJECTED, "13", "status 13 cannot follow 02: the receiver rejected the document (02); nothing can follow"),
        (S.RECALLED, "13", "the document was recalled (15); nothing can follow"),
        (S.RECALL_REQUESTED, "13", "a recall (13) is pending"),
        (S.RECALL_REQUESTED, "05", "the receiver must first agree (15) or refuse (16)"),
        (S.ACCEPTED, "15", "status 15 cannot follow 03: no recall (13) is pending"),
        (S.FINISHED, "16", "no recall (13) is pending"),
        (S.DEAD_LETTER, "01", "an administrator must first re-drive it"),
        (S.DEAD_LETTER, "13", "an administrator must first re-drive it"),
        (
            S.DELIVERED,
            "redrive",
            "'redrive' cannot follow 01: only a delivery that failed (dead_letter) can be re-driven",
        ),
        (S.ACCEPTED, "dead_letter", "only a delivery still queued can be dead-lettered"),
    ],
)
def test_disallowed_transitions_say_what_to_do(current: DeliveryState, event: str, message: str) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_state(current, event)
    assert message in str(caught.value)
    assert (caught.value.current, caught.value.event) == (current.value, to_event(event).value)


@pytest.mark.parametrize(
    ("current", "event"), [pair for pair in itertools.product(DeliveryState, ALL_EVENTS) if pair not in ALLOWED]
)
def test_everything_outside_the_table_is_refused(current: DeliveryState, event: StatusCode | TransportEvent) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_state(current, event)
    assert isinstance(caught.value, Conflict) and caught.value.http_status == 409
    assert str(caught.value).startswith(("status ", "'"))


def test_skipping_04_and_05_is_allowed_but_not_01_or_03() -> None:
    assert next_state(S.ACCEPTED, "06") is S.FINISHED
    assert next_state(S.ACCEPTED, "05") is S.PROCESSING
    assert next_state(S.ASSIGNED, "06") is S.FINISHED
    for current, event in [(S.QUEUED, "03"), (S.DELIVERED, "04"), (S.QUEUED, "06")]:
        with pytest.raises(InvalidTransition):
            next_state(current, event)


def test_recall_only_from_live_states() -> None:
    live = {t.source for t in TRANSITIONS if t.event is C.RECALL_REQUESTED}
    assert live == {S.QUEUED, S.DELIVERED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING, S.FINISHED}


@pytest.mark.parametrize(
    ("event", "party"),
    [
        ("13", Party.RECEIVER),
        ("03", Party.SENDER),
        ("01", Party.SENDER),
        ("15", Party.SENDER),
        ("redrive", Party.SENDER),
    ],
)
def test_the_wrong_side_may_not_send(event: str, party: Party) -> None:
    with pytest.raises(WrongParty) as caught:
        check_party(event, party)
    assert isinstance(caught.value, PermissionDenied)
    assert f"not by the {party.value}" in str(caught.value)


def test_next_state_checks_the_side_when_told() -> None:
    with pytest.raises(WrongParty, match="status 13 is sent by the sender of the document, not by the receiver"):
        next_state(S.ACCEPTED, "13", by="receiver")


def test_who_sends_what() -> None:
    for event in ALL_EVENTS:
        rows = {t.by for t in TRANSITIONS if t.event is event}
        assert rows == {SENT_BY[event]}, f"{event} must have one sender"
    assert {e for e, p in SENT_BY.items() if p is Party.RECEIVER} == {
        C.ARRIVED,
        C.REJECTED,
        C.ACCEPTED,
        C.ASSIGNED,
        C.PROCESSING,
        C.FINISHED,
        C.RECALL_AGREED,
        C.RECALL_REFUSED,
    }
    assert SENT_BY[C.RECALL_REQUESTED] is Party.SENDER


def test_status_codes_and_labels() -> None:
    assert [c.value for c in StatusCode] == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert StatusCode("05").label_vi == "Đang xử lý" and StatusCode("05").label_en == "Processing"
    assert all(c.label_vi and c.label_en for c in StatusCode)
    assert all(s.label_vi for s in DeliveryState)
    assert StatusCode.parse(" 3 ") is C.ACCEPTED
    assert to_event("redrive") is T.REDRIVE
    with pytest.raises(InvalidInput, match=r"unknown status code '07': the known codes are 01, 02"):
        StatusCode.parse("07")


def test_allowed_events_and_printed_table() -> None:
    assert allowed_events("delivered") == (C.REJECTED, C.ACCEPTED, C.RECALL_REQUESTED)
    assert allowed_events(S.RECALLED) == ()
    table = transition_table_markdown()
    assert table.count("\n") == len(TRANSITIONS) + 1
    assert "| delivered | 03 accepted | accepted | receiver |" in table
    assert "| recall_requested | 16 recall refused | (state before the 13) | receiver |" in table
