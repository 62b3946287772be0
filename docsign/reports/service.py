"""The reports as people reach them: who sees which agencies, and the clerk's record of a paper sending.

An agency's people see their own agency and the agencies under it; an admin sees every agency. Asking for
an agency outside that is "not found", as for any other agency's record. Functions never commit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit, validation
from docsign.documents import register
from docsign.documents.service import Action, Actor, require
from docsign.errors import Conflict, InvalidInput, NotFound
from docsign.models import Agency, OutgoingEntry, PaperSending, RegisterBook, Role
from docsign.reports.adoption import AdoptionReport, AgencyRef, Period, adoption, agency_tree


def visible_agencies(session: Session, actor: Actor, agency_code: str | None = None) -> tuple[AgencyRef, ...]:
    """The agencies the actor may see (their own and those under it; every one for an admin), or the subtree
    of ``agency_code`` among them."""
    everything = Role(actor.role) is Role.ADMIN
    tree = agency_tree(session, None if everything else [actor.agency_id])
    code = (agency_code or "").strip().upper()
    if not code:
        return tree
    chosen = next((a for a in tree if a.code == code), None)
    if chosen is None:
        raise NotFound(f"agency {code} is not among the agencies you may see")
    return tuple(a for a in tree if a.id in chosen.subtree)


def adoption_for(session: Session, actor: Actor, period: Period, agency_code: str | None = None) -> AdoptionReport:
    return adoption(session, period, visible_agencies(session, actor, agency_code))


def agencies_for_code(session: Session, agency_code: str | None) -> tuple[AgencyRef, ...]:
    """For the command line (run by the installation's operator): one agency's subtree, or every agency."""
    if not agency_code:
        return agency_tree(session)
    from docsign.exchange.directory import get_agency

    return agency_tree(session, [get_agency(session, agency_code).id])


# -- paper sendings ---------------------------------------------------------------------------------------

def record_paper_sending(session: Session, actor: Actor, entry_id: int, *, recipient: str | None,
                         sent_on: dt.date | None = None, note: str | None = None) -> PaperSending:
    """The clerk records that a numbered outgoing document still went on paper to ``recipient``."""
    require(actor, Action.SEND)
    entry = session.scalar(select(OutgoingEntry).join(RegisterBook, OutgoingEntry.book_id == RegisterBook.id)
                           .where(OutgoingEntry.id == entry_id, RegisterBook.agency_id == actor.agency_id))
    if entry is None:
        raise NotFound(f"number {entry_id} is not in your agency's outgoing register")
    name = validation.text(recipient, "the recipient (nơi nhận)", max_length=200, required=True) or ""
    name = " ".join(name.split())
    note = validation.text(note, "the note", max_length=500)
    sent_on = sent_on or register.today()
    if sent_on > register.today():
        raise InvalidInput(f"the date {sent_on:%d/%m/%Y} is in the future")
    if sent_on < entry.issued_on:
        raise InvalidInput(f"the date {sent_on:%d/%m/%Y} is before the document's date ({entry.issued_on:%d/%m/%Y})")
    if session.scalar(select(PaperSending.id).where(PaperSending.entry_id == entry.id,
                                                    PaperSending.recipient == name)) is not None:
        raise Conflict(f"the paper sending of {entry.number_text}/{entry.notation} to {name} is already recorded")
    sending = PaperSending(agency_id=actor.agency_id, entry=entry, recipient=name, sent_on=sent_on, note=note,
                           created_by_id=actor.user_id)
    session.add(sending)
    session.flush()
    audit.record(session, actor.audit_name, "register.paper", agency_id=actor.agency_id,
                 object_type="register_outgoing", object_id=entry.id,
                 details={"recipient": name, "sent_on": sent_on.isoformat()})
    return sending


def paper_sendings(session: Session, agency_id: int, entry_ids: list[int]) -> dict[int, list[PaperSending]]:
    """The paper sendings of these outgoing register lines of the agency, by line."""
    out: dict[int, list[PaperSending]] = {}
    if not entry_ids:
        return out
    rows = session.scalars(select(PaperSending).where(PaperSending.agency_id == agency_id,
                                                      PaperSending.entry_id.in_(entry_ids))
                           .order_by(PaperSending.sent_on, PaperSending.id))
    for row in rows:
        out.setdefault(row.entry_id, []).append(row)
    return out


def agency_name(session: Session, agency_id: int) -> str:
    agency = session.get(Agency, agency_id)
    return agency.name if agency else ""
