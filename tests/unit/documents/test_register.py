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
from docsign.models import BookKind, OutgoingEntry, RegisterBook

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


def test_concurrent_issues_never_get_the_same_number(migrated, agency_id):
    """Threads, each with its own connection and transaction, take numbers at the same moment and hold
    the book while they "sign"; some of them fail and roll back. The numbers that stay are 1..n, once each."""
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
                    entry = register.take_number(session, agency_id, issued_on=TODAY, notation="UBND-VP",
                                                 subject=f"thread {index} round {round_}")
                    with lock:
                        overlap["waiting"] -= 1
                    number = entry.number
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
        numbers = s.scalars(select(OutgoingEntry.number).order_by(OutgoingEntry.number)).all()
        assert numbers == list(range(1, len(kept) + 1))
        assert s.scalar(select(RegisterBook.last_number)) == len(kept)
