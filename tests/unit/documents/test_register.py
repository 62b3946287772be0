"""The outgoing register: one number from one book, on every backend (SQLite and PostgreSQL), with
real concurrent transactions."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select

from docsign.db import session_factory, session_scope
from docsign.documents import register
from docsign.errors import InvalidInput
from docsign.exchange.directory import add_agency
from docsign.models import Agency, ArrivalEntry, BookKind, Document, DocumentOrigin, OutgoingEntry, RegisterBook

pytestmark = pytest.mark.backend
TODAY = register.today()


@pytest.fixture
def agency_id(migrated):  # type: ignore[no-untyped-def]
    with session_scope(migrated.database_url) as s:
        return add_agency(s, code="000.00.00.H30", name="Ủy ban nhân dân tỉnh Hòa Bình").id


def _take(settings, agency_id, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("issued_on", TODAY)
    kw.setdefault("notation", "UBND-VP")
    kw.setdefault("subject", "Về việc thử nghiệm sổ đăng ký")
    with session_scope(settings.database_url) as s:
        return register.take_number(s, agency_id, **kw).number


def _entries(settings) -> list[tuple[str, str, int, int]]:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        rows = s.execute(select(RegisterBook.kind, RegisterBook.series, RegisterBook.year, OutgoingEntry.number)
                         .join(RegisterBook).order_by(OutgoingEntry.id)).all()
        return [(k.value, series, year, n) for k, series, year, n in rows]


def test_each_book_numbers_from_01_and_follows_on(migrated, agency_id):
    assert [_take(migrated, agency_id) for _ in range(3)] == [1, 2, 3]
    # Decree 30 Art. 15.1a: each type of legal normative document has its own series
    assert _take(migrated, agency_id, kind=BookKind.LEGAL, type_name="Quyết định") == 1
    assert _take(migrated, agency_id, kind=BookKind.LEGAL, type_name="  quyết  ĐỊNH ") == 2
    assert _take(migrated, agency_id, kind=BookKind.LEGAL, type_name="Nghị quyết") == 1
    last_year = dt.date(TODAY.year - 1, 12, 31)
    assert _take(migrated, agency_id, issued_on=last_year) == 1, "numbers restart each year"
    assert _take(migrated, agency_id) == 4
    with session_scope(migrated.database_url) as s:
        assert register.next_number(s, agency_id) == 5
        assert register.next_number(s, agency_id, BookKind.LEGAL, "Quyết định") == 3


def test_a_failed_issue_gives_its_number_back(migrated, agency_id):
    _take(migrated, agency_id)
    with pytest.raises(RuntimeError), session_scope(migrated.database_url) as s:
        assert register.take_number(s, agency_id, issued_on=TODAY, notation="UBND-VP", subject="x").number == 2
        raise RuntimeError("the signing failed")  # the caller's transaction rolls back
    assert _take(migrated, agency_id) == 2, "no number is burned"


def test_bad_numbers_and_dates_are_refused_and_write_nothing(migrated, agency_id):
    year = TODAY.year - 1  # a closed year: every date below is in the past, whatever the day the test runs
    _take(migrated, agency_id, issued_on=dt.date(year, 6, 5))
    _take(migrated, agency_id, issued_on=dt.date(year, 6, 9))
    before = _entries(migrated)
    cases = [
        ({"number": 2}, register.NumberTaken,
         rf"number 02 is already used in Sổ văn bản đi {year} .*next number is 03"),
        ({"number": 5}, InvalidInput, "follow on without gaps.*next number is 03, not 05"),
        ({"issued_on": dt.date(year, 6, 7)}, InvalidInput,
         r"07/06/\d{4} is before 09/06/\d{4}, the date of number 02, the number before it"),
        ({"issued_on": TODAY + dt.timedelta(days=1)}, InvalidInput, "in the future"),
        ({"kind": BookKind.LEGAL}, InvalidInput, "give its type"),
    ]
    for changes, error, message in cases:
        changes.setdefault("issued_on", dt.date(year, 6, 10))
        with pytest.raises(error, match=message):
            _take(migrated, agency_id, **changes)
    # a number given by another system (recorded on sending) may skip ahead, but dates still follow numbers
    with pytest.raises(InvalidInput, match=r"before .*the date of number 02"):
        _take(migrated, agency_id, number=9, consecutive=False, issued_on=dt.date(year, 6, 1))
    assert _entries(migrated) == before
    with session_scope(migrated.database_url) as s:
        assert s.scalar(select(func.count()).select_from(RegisterBook)) == 1


def _issue(session, agency_id: int, index: int, round_: int) -> int:  # type: ignore[no-untyped-def]
    return register.take_number(session, agency_id, issued_on=TODAY, notation="UBND-VP",
                                subject=f"thread {index} round {round_}").number


def _arrive(session, agency_id: int, index: int, round_: int) -> int:  # type: ignore[no-untyped-def]
    document = Document(agency_id=agency_id, origin=DocumentOrigin.RECEIVED, title=f"thread {index} round {round_}",
                        code_number=str(index * 10 + round_ + 1), code_notation="UBND-VP")
    session.add(document)
    entry = register.register_arrival(session, document, agency_id=agency_id, issuer=session.get(Agency, agency_id),
                                      edxml_document_id=f"doc-{index}-{round_}")
    assert entry.number is not None
    return entry.number


@pytest.mark.parametrize(("allocate", "entries"), [(_issue, OutgoingEntry), (_arrive, ArrivalEntry)],
                         ids=["outgoing", "arrivals"])
def test_concurrent_allocations_never_get_the_same_number(migrated, agency_id, allocate, entries):
    """Threads, each with its own connection and transaction, take numbers at the same moment and hold
    the book while they "sign"; some of them fail and roll back. The numbers that stay are 1..n, once each:
    outgoing numbers on issue, arrival numbers on receipt."""
    threads, rounds = 6, 3
    factory = session_factory(migrated.database_url)
    start = threading.Barrier(threads)
    kept: list[int] = []
    errors: list[BaseException] = []
    overlap = {"max_waiting": 0, "waiting": 0}
    lock = threading.Lock()

    def clerk(index: int) -> None:
        try:
            for round_ in range(rounds):
                start.wait(timeout=60)
                session = factory()
                try:
                    with lock:
                        overlap["waiting"] += 1
                        overlap["max_waiting"] = max(overlap["max_waiting"], overlap["waiting"])
                    number = allocate(session, agency_id, index, round_)
                    with lock:
                        overlap["waiting"] -= 1
                    time.sleep(0.02)  # the signing, with the book held
                    if (index + round_) % 4 == 0:
                        session.rollback()  # this issue failed: its number goes back
                        continue
                    session.commit()
                    with lock:
                        kept.append(number)
                finally:
                    session.close()
        except BaseException as exc:  # reported below
            errors.append(exc)
            start.abort()

    workers = [threading.Thread(target=clerk, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors
    assert overlap["max_waiting"] > 1, "the threads did not really run at the same time"
    assert sorted(kept) == list(range(1, len(kept) + 1)), sorted(kept)
    assert len(kept) == threads * rounds - sum((i + r) % 4 == 0 for i in range(threads) for r in range(rounds))
    with session_scope(migrated.database_url) as s:
        numbers = s.scalars(select(entries.number).order_by(entries.number)).all()
        assert numbers == list(range(1, len(kept) + 1))
        assert s.scalar(select(RegisterBook.last_number)) == len(kept)


def test_the_upgrade_writes_the_numbers_already_given_into_the_books(settings):
    """0011 on a database of 0010 (the migration before it): numbers already issued go into the books (the
    first document of a number the old count+1 path gave twice keeps it), received documents get arrival
    numbers in order."""
    from docsign import migrations
    from docsign.models import Delivery, DocumentRevision, Exchange

    migrations.upgrade(settings.database_url, "0010")
    year = TODAY.year - 1
    with session_scope(settings.database_url) as s:
        province = add_agency(s, code="000.00.00.H30", name="Ủy ban nhân dân tỉnh Hòa Bình")
        district = add_agency(s, code="000.00.35.H30", name="Ủy ban nhân dân huyện Lạc Sơn")
        drafted = []
        for number, day in (("01", 3), ("02", 4), ("02", 5), (None, 6)):
            document = Document(agency=province, origin=DocumentOrigin.DRAFTED, title=f"Văn bản {number}",
                                code_number=number, code_notation="UBND-VP",
                                promulgation_date=dt.date(year, 5, day) if number else None)
            document.revisions.append(DocumentRevision(number=1, sha256="0" * 64, size=1, action="issue"))
            drafted.append(document)
        s.add_all(drafted)
        s.flush()
        for n, document in enumerate(drafted[:3]):
            exchange = Exchange(id=f"ex-{n}", document=document, revision=document.revisions[0], sender=province,
                                edxml_document_id=f"000.00.00.H30,{year}/05/0{n + 3},0{n}/UBND-VP",
                                business_type=0 if n < 2 else 2, subject=document.title)
            delivery = Delivery(exchange=exchange, recipient=district, state="delivered")
            s.add_all([exchange, delivery])
            s.flush()
            inbox = Document(agency=district, origin=DocumentOrigin.RECEIVED, title=document.title,
                             code_number=document.code_number, code_notation="UBND-VP",
                             promulgation_date=document.promulgation_date, received_via_delivery_id=delivery.id,
                             created_at=dt.datetime(year, 5, n + 3, 3, tzinfo=dt.UTC))
            s.add(inbox)
    migrations.upgrade(settings.database_url)
    with session_scope(settings.database_url) as s:
        outgoing = s.execute(select(OutgoingEntry.number, OutgoingEntry.document_id).order_by(OutgoingEntry.number))
        assert [(n, d) for n, d in outgoing] == [(1, drafted[0].id), (2, drafted[1].id)]
        arrivals = s.scalars(select(ArrivalEntry).order_by(ArrivalEntry.id)).all()
        assert [(a.number, a.arrived_on, a.issuer_code) for a in arrivals] == [
            (1, dt.date(year, 5, 3), "000.00.00.H30"), (2, dt.date(year, 5, 4), "000.00.00.H30"),
            (3, dt.date(year, 5, 5), "000.00.00.H30")]
        books = {(b.kind.value, b.agency_id): b.last_number for b in s.scalars(select(RegisterBook))}
        assert books == {("other", province.id): 2, ("incoming", district.id): 3}
    with session_scope(settings.database_url) as s:  # the books go on from there
        assert register.take_number(s, province.id, issued_on=dt.date(year, 12, 1), notation="UBND-VP",
                                    subject="x").number == 3
