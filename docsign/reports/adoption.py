"""The adoption report: per agency and month (Vietnam time), how many documents went the electronic way.

Every figure is a query over the records, grouped in SQL by agency and by the month in +07:00:

- **issued**: outgoing documents sealed by the clerk (the ``issue`` signature), by the month of that
  signature; **issued_both**: those of them that also carry the leader's personal signature (``approve``),
  the two signatures that make an electronic document valid (Decree 30/2020 Art. 5);
- **received**: documents that arrived electronically, i.e. numbered lines of the agency's arrivals register
  (a duplicate arrival takes no number and is not counted), by arrival date;
- **registered_same_day**: those of them the clerk accepted and registered (status 03) on the arrival date
  itself (Decree 30 Art. 21-22: incoming documents are registered and confirmed the same day);
- **rejected**: deliveries the agency returned (status 02, by its system or its clerk), by the month of the
  02, with the reasons written in the status;
- **answered** / **answered_late**: deliveries the agency finished (status 06), and those finished after the
  due date of their arrivals-register line (thời hạn giải quyết: the packet's DueDate, or what the clerk set);
- **paper**: paper sendings the clerk recorded (one per outgoing register line and recipient), by date sent.

Each agency is counted on its own; an agency with subordinate agencies also gets a roll-up line with its
whole subtree (``agencies.parent_id``). Times are stored in UTC: the month and the day of a timestamp are
taken in +07:00 by :class:`local_day`, compiled for each database, so a document sealed at 00:30 on
1 March in Hà Nội counts in March, not February.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from sqlalchemy import String, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import expression
from sqlalchemy.sql.compiler import SQLCompiler

from docsign.exchange.statuses import StatusCode
from docsign.models import (
    Agency,
    ArrivalEntry,
    BookKind,
    Delivery,
    Document,
    DocumentOrigin,
    DocumentRevision,
    PaperSending,
    RegisterBook,
    Signature,
    StatusEvent,
)
from docsign.reports.errors import InvalidPeriod

VN_TZ = dt.timezone(dt.timedelta(hours=7))
MAX_YEARS = 10
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_BOUND = {"from": "start (from)", "to": "end (to)"}


# -- the period ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Whole days from ``start`` to ``end`` (inclusive), Vietnam time."""

    start: dt.date
    end: dt.date

    @property
    def months(self) -> list[str]:
        """Every month the period touches, ``YYYY-MM``, oldest first."""
        out, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    @property
    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The instants the period starts and ends (exclusive), for timestamp columns."""
        first = dt.datetime.combine(self.start, dt.time(), VN_TZ)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), VN_TZ)
        return first.astimezone(dt.UTC), after.astimezone(dt.UTC)

    @property
    def label(self) -> str:
        return f"Từ ngày {self.start:%d/%m/%Y} đến ngày {self.end:%d/%m/%Y}"


def _parse_bound(value: str | None, name: str, *, end: bool) -> dt.date:
    text = (value or "").strip()
    if not text:
        raise InvalidPeriod(f"the report period needs its {_BOUND[name]} (a month YYYY-MM or a day YYYY-MM-DD)")
    month = _MONTH.match(text)
    try:
        if month:
            first = dt.date(int(month.group(1)), int(month.group(2)), 1)
            if not end:
                return first
            following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return following - dt.timedelta(days=1)
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidPeriod(f"the {_BOUND[name]} of the report period, {text!r}, is not a month (YYYY-MM) or a day "
                        "(YYYY-MM-DD)")


def parse_period(date_from: str | None, date_to: str | None) -> Period:
    """The period a person asked for: months (``2026-01``: the whole month) or days; refused when it is
    malformed, reversed or longer than ten years."""
    start = _parse_bound(date_from, "from", end=False)
    end = _parse_bound(date_to, "to", end=True)
    if end < start:
        raise InvalidPeriod(f"the report period is reversed: it starts on {start:%d/%m/%Y} and ends before, on "
                            f"{end:%d/%m/%Y}")
    try:
        limit = start.replace(year=start.year + MAX_YEARS)
    except ValueError:  # 29 February
        limit = dt.date(start.year + MAX_YEARS, 3, 1)
    if end >= limit:
        raise InvalidPeriod(f"the report period {start:%d/%m/%Y}-{end:%d/%m/%Y} is longer than {MAX_YEARS} years: "
                            "ask for a shorter one")
    return Period(start, end)


def recent_months(today: dt.date, count: int = 12) -> Period:
    """The last ``count`` months up to today: the page's default."""
    year, month = today.year, today.month - (count - 1)
    while month < 1:
        year, month = year - 1, month + 12
    return Period(dt.date(year, month, 1), today)


# -- dates in Vietnam time, in SQL ---------------------------------------------------------------------

class _VnDate(expression.FunctionElement[str]):
    type = String()
    inherit_cache = True
    fmt: tuple[str, str] = ("", "")
    """strftime (SQLite) and to_char (PostgreSQL) formats."""
    timestamp = True
    """A UTC timestamp column (taken in +07:00), or a DATE column (taken as it is)."""


class local_day(_VnDate):
    """``YYYY-MM-DD`` of a UTC timestamp column, in +07:00 (Vietnam keeps no daylight saving time)."""

    inherit_cache = True
    fmt = ("%Y-%m-%d", "YYYY-MM-DD")


class local_month(_VnDate):
    """``YYYY-MM`` of a UTC timestamp column, in +07:00."""

    inherit_cache = True
    fmt = ("%Y-%m", "YYYY-MM")


class day_text(_VnDate):
    """``YYYY-MM-DD`` of a DATE column, comparable with :class:`local_day`."""

    inherit_cache = True
    fmt = ("%Y-%m-%d", "YYYY-MM-DD")
    timestamp = False


class month_text(_VnDate):
    """``YYYY-MM`` of a DATE column."""

    inherit_cache = True
    fmt = ("%Y-%m", "YYYY-MM")
    timestamp = False


# Formats are written into the SQL, not bound: the same expression in SELECT and GROUP BY must be the
# same text for PostgreSQL to accept it.
@compiles(_VnDate, "sqlite")
def _vn_date_sqlite(element: _VnDate, compiler: SQLCompiler, **kw: object) -> str:
    column = compiler.process(element.clauses, **kw)
    # docsign's UtcDateTime stores naive UTC text on SQLite
    return f"strftime('{element.fmt[0]}', {column}, '+7 hours')" if element.timestamp else \
        f"strftime('{element.fmt[0]}', {column})"


@compiles(_VnDate, "postgresql")
def _vn_date_postgresql(element: _VnDate, compiler: SQLCompiler, **kw: object) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.timestamp:
        column = f"(({column}) AT TIME ZONE 'UTC') + interval '7 hours'"
    return f"to_char({column}, '{element.fmt[1]}')"


# -- the figures ---------------------------------------------------------------------------------------

NO_REASON = "(không ghi lý do)"
_REJECTED_PREFIX = re.compile(r"^\s*(?:Từ chối tiếp nhận\s*/\s*Rejected|Trả lại\s*/\s*Returned)\s*:?\s*", re.I)


@dataclass(frozen=True)
class Figures:
    issued: int = 0
    issued_both: int = 0
    received: int = 0
    registered_same_day: int = 0
    rejected: int = 0
    answered: int = 0
    answered_late: int = 0
    paper: int = 0
    reasons: tuple[tuple[str, int], ...] = ()
    """Why documents were rejected: (reason, how many), most frequent first."""

    def __add__(self, other: Figures) -> Figures:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "reasons"}
        reasons: dict[str, int] = defaultdict(int)
        for reason, count in (*self.reasons, *other.reasons):
            reasons[reason] += count
        return Figures(**counts, reasons=_sorted_reasons(reasons))

    @property
    def reasons_text(self) -> str:
        return "; ".join(f"{reason} ({count})" for reason, count in self.reasons)


def _sorted_reasons(reasons: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class AgencyRef:
    id: int
    code: str
    name: str
    parent_code: str | None
    depth: int
    """0 for the top of the report's tree."""
    subtree: tuple[int, ...]
    """This agency and every agency under it (ids)."""

    @property
    def has_children(self) -> bool:
        return len(self.subtree) > 1


@dataclass(frozen=True)
class Row:
    month: str
    agency: AgencyRef
    rolled_up: bool
    """True: the agency with every agency under it; False: the agency alone."""
    figures: Figures


@dataclass(frozen=True)
class AdoptionReport:
    period: Period
    agencies: tuple[AgencyRef, ...]
    """Tree order: each agency before the agencies under it."""
    own: dict[tuple[int, str], Figures] = field(repr=False)
    """Figures of each agency alone, by (agency id, month); absent: all zero."""

    def figures(self, agency: AgencyRef, month: str | None = None, *, rolled_up: bool = False) -> Figures:
        """One agency's figures for a month (or the whole period), alone or with its subtree."""
        ids = agency.subtree if rolled_up else (agency.id,)
        months = [month] if month is not None else self.period.months
        total = Figures()
        for agency_id in ids:
            for m in months:
                total = total + self.own.get((agency_id, m), Figures())
        return total

    @property
    def rows(self) -> list[Row]:
        """Per month, each agency alone, then (if it has subordinate agencies) with them."""
        out = []
        for month in self.period.months:
            for agency in self.agencies:
                out.append(Row(month, agency, False, self.figures(agency, month)))
                if agency.has_children:
                    out.append(Row(month, agency, True, self.figures(agency, month, rolled_up=True)))
        return out

    def by_month(self) -> list[tuple[str, Figures]]:
        """Every agency of the report added up, per month (each agency counted once)."""
        return [(month, _sum(self.own.get((a.id, month), Figures()) for a in self.agencies))
                for month in self.period.months]

    def by_agency(self) -> list[tuple[AgencyRef, Figures]]:
        """Each agency alone over the whole period."""
        return [(agency, self.figures(agency)) for agency in self.agencies]

    @property
    def total(self) -> Figures:
        return _sum(f for _, f in self.by_month())


def _sum(items: Iterable[Figures]) -> Figures:
    total = Figures()
    for item in items:
        total = total + item
    return total


# -- which agencies --------------------------------------------------------------------------------------

def agency_tree(session: Session, roots: Sequence[int] | None = None) -> tuple[AgencyRef, ...]:
    """The agencies under ``roots`` (each root included), in tree order; every agency when ``roots`` is None.
    An agency whose parent is outside the directory is a top of the tree."""
    rows = session.execute(select(Agency.id, Agency.code, Agency.name, Agency.parent_id).order_by(Agency.code)).all()
    by_id = {r.id: r for r in rows}
    children: dict[int | None, list[int]] = defaultdict(list)
    for r in rows:
        children[r.parent_id if r.parent_id in by_id else None].append(r.id)

    def walk(agency_id: int, depth: int, path: frozenset[int]) -> list[tuple[int, int]]:
        if agency_id in path:  # a cycle in parent_id must not hang the report
            return []
        found = [(agency_id, depth)]
        for child in children.get(agency_id, []):
            found.extend(walk(child, depth + 1, path | {agency_id}))
        return found

    out: list[AgencyRef] = []
    seen: set[int] = set()
    for top in (list(roots) if roots is not None else children[None]):
        for agency_id, depth in walk(top, 0, frozenset()):
            if agency_id in seen:
                continue
            seen.add(agency_id)
            r = by_id[agency_id]
            subtree = tuple(i for i, _ in walk(agency_id, 0, frozenset()))
            parent_code = by_id[r.parent_id].code if r.parent_id in by_id else None
            out.append(AgencyRef(r.id, r.code, r.name, parent_code, depth, subtree))
    return tuple(out)


# -- the queries -----------------------------------------------------------------------------------------

def adoption(session: Session, period: Period, agencies: Sequence[AgencyRef]) -> AdoptionReport:
    """The adoption report of these agencies (from :func:`agency_tree`) over the period."""
    ids = [a.id for a in agencies]
    own: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reasons: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if ids:
        for name, query in _count_queries(period, ids):
            for agency_id, month, count in session.execute(query):
                own[(agency_id, month)][name] += int(count or 0)
        for agency_id, month, description, count in session.execute(_rejections(period, ids)):
            own[(agency_id, month)]["rejected"] += int(count)
            reasons[(agency_id, month)][_reason(description)] += int(count)
    figures = {key: Figures(**counts, reasons=_sorted_reasons(reasons.get(key, {}))) for key, counts in own.items()}
    return AdoptionReport(period, tuple(agencies), figures)


def _reason(description: str | None) -> str:
    text = _REJECTED_PREFIX.sub("", description or "", count=1).strip()
    return text or NO_REASON


def _count_queries(period: Period, ids: list[int]) -> list[tuple[str, expression.Select]]:  # type: ignore[type-arg]
    first, after = period.utc_bounds

    # issued, and issued with both signatures: by the month of the seal (issue) signature
    issue_month = local_month(Signature.signed_at)
    issued = (select(Document.agency_id, issue_month, func.count(func.distinct(Document.id)))
              .select_from(Signature).join(DocumentRevision, Signature.revision_id == DocumentRevision.id)
              .join(Document, DocumentRevision.document_id == Document.id)
              .where(Signature.role == "issue", Document.origin == DocumentOrigin.DRAFTED,
                     Document.agency_id.in_(ids), Signature.signed_at >= first, Signature.signed_at < after)
              .group_by(Document.agency_id, issue_month))
    approve, approve_revision = aliased(Signature), aliased(DocumentRevision)
    approved = (select(approve.id).join(approve_revision, approve.revision_id == approve_revision.id)
                .where(approve.role == "approve", approve_revision.document_id == Document.id).exists())
    issued_both = issued.where(approved)

    # received electronically: numbered lines of the arrivals register, by arrival date
    arrival_month = month_text(ArrivalEntry.arrived_on)
    received = (select(RegisterBook.agency_id, arrival_month, func.count(ArrivalEntry.id))
                .select_from(ArrivalEntry).join(RegisterBook, ArrivalEntry.book_id == RegisterBook.id)
                .where(RegisterBook.kind == BookKind.INCOMING, RegisterBook.agency_id.in_(ids),
                       ArrivalEntry.number.is_not(None), ArrivalEntry.arrived_on >= period.start,
                       ArrivalEntry.arrived_on <= period.end)
                .group_by(RegisterBook.agency_id, arrival_month))
    inbox = aliased(Document)
    same_day = (select(StatusEvent.id).select_from(inbox)
                .join(StatusEvent, StatusEvent.delivery_id == inbox.received_via_delivery_id)
                .where(inbox.id == ArrivalEntry.document_id, StatusEvent.code == StatusCode.ACCEPTED.value,
                       local_day(StatusEvent.created_at) == day_text(ArrivalEntry.arrived_on)).exists())
    registered_same_day = received.where(same_day)

    # answered (06), and answered after the due date of the arrivals-register line
    answer_day = local_day(StatusEvent.created_at)
    late = and_(ArrivalEntry.due_date.is_not(None), answer_day > day_text(ArrivalEntry.due_date))
    answer_month = local_month(StatusEvent.created_at)
    answered_query = (select(Delivery.recipient_agency_id, answer_month, func.count(StatusEvent.id),
                             func.sum(case((late, 1), else_=0)))
                      .select_from(StatusEvent).join(Delivery, StatusEvent.delivery_id == Delivery.id)
                      .outerjoin(inbox, inbox.received_via_delivery_id == Delivery.id)
                      .outerjoin(ArrivalEntry, ArrivalEntry.document_id == inbox.id)
                      .where(StatusEvent.code == StatusCode.FINISHED.value, Delivery.recipient_agency_id.in_(ids),
                             StatusEvent.created_at >= first, StatusEvent.created_at < after)
                      .group_by(Delivery.recipient_agency_id, answer_month))
    answered = answered_query.with_only_columns(*answered_query.selected_columns[:3])
    answered_late = answered_query.with_only_columns(*answered_query.selected_columns[:2],
                                                     answered_query.selected_columns[3])

    paper_month = month_text(PaperSending.sent_on)
    paper = (select(PaperSending.agency_id, paper_month, func.count(PaperSending.id))
             .where(PaperSending.agency_id.in_(ids), PaperSending.sent_on >= period.start,
                    PaperSending.sent_on <= period.end)
             .group_by(PaperSending.agency_id, paper_month))
    return [("issued", issued), ("issued_both", issued_both), ("received", received),
            ("registered_same_day", registered_same_day), ("answered", answered),
            ("answered_late", answered_late), ("paper", paper)]


def _rejections(period: Period, ids: list[int]) -> expression.Select:  # type: ignore[type-arg]
    first, after = period.utc_bounds
    month = local_month(StatusEvent.created_at)
    return (select(Delivery.recipient_agency_id, month, StatusEvent.description, func.count(StatusEvent.id))
            .select_from(StatusEvent).join(Delivery, StatusEvent.delivery_id == Delivery.id)
            .where(StatusEvent.code == StatusCode.REJECTED.value, Delivery.recipient_agency_id.in_(ids),
                   StatusEvent.created_at >= first, StatusEvent.created_at < after)
            .group_by(Delivery.recipient_agency_id, month, StatusEvent.description))
