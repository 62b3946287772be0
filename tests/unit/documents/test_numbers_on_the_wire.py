"""One number from one book, end to end: the number the clerk's issue prints is the number in the
register, in the packet's CodeNumber and DocumentId, with the issue date as PromulgationDate; sending
refuses a PDF whose printed number and the register disagree."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from docsign.db import session_scope
from docsign.documents import register
from docsign.documents import service as ds
from docsign.exchange import edxml
from docsign.exchange import service as svc
from docsign.models import Exchange, OutgoingEntry, User
from docsign.signing.roles import date_parts
from docsign.storage import BlobStore
from tests.support.documents import sealed_pdf
from tests.unit.signing.pdfgen import make_pdf

pytestmark = pytest.mark.backend
PROVINCE, LAC_SON = "000.00.00.H30", "000.00.35.H30"


def _actor(settings, login: str) -> ds.Actor:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        u = s.scalar(select(User).where(User.login == login))
        return ds.Actor(u.id, u.login, u.full_name, u.role.value, u.agency_id, u.agency.code, u.position)


def _issued(settings, tmp_path, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    clerk, leader = _actor(settings, "tinh.vanthu"), _actor(settings, "tinh.lanhdao")
    ids = []
    for n in range(count):
        with session_scope(settings.database_url) as s:
            pdf = make_pdf(tmp_path / f"draft{n}.pdf").read_bytes()
            ids.append(ds.upload_document(s, settings, clerk, io.BytesIO(pdf), title=f"Văn bản {n}",
                                          notation="UBND-VP").id)
        with session_scope(settings.database_url) as s:
            ds.approve_document(s, settings, leader, ids[-1], level="B-B")
        with session_scope(settings.database_url) as s:
            ds.issue_document(s, settings, clerk, ids[-1], notation="UBND-VP", level="B-B")
    return ids


def _field(pdf: bytes, name: str) -> str | None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    for ref in PdfFileReader(io.BytesIO(pdf), strict=False).root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field["/T"] == name:
            return str(field["/V"])
    return None


def _external_send(settings, pdf: bytes, number: str | None = None) -> str:  # type: ignore[no-untyped-def]
    request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON,), subject="Gửi từ hệ thống khác",
                              code_number=number, code_notation="VP")
    with session_scope(settings.database_url) as s:
        return svc.send(s, settings, request, pdf, actor="test").id


def test_the_printed_number_is_the_registers_and_the_packets(demo_online, tmp_path):
    settings = demo_online
    first, second = _issued(settings, tmp_path, 2)
    store = BlobStore(settings.blob_dir)
    with session_scope(settings.database_url) as s:
        entries = {e.document_id: e for e in s.scalars(select(OutgoingEntry))}
        assert (entries[first].number, entries[second].number) == (1, 2)
        issued_on = entries[second].issued_on
        second_pdf = store.read_bytes(ds.get_document(s, _actor(settings, "tinh.vanthu"), second).current.sha256)
        first_pdf = store.read_bytes(ds.get_document(s, _actor(settings, "tinh.vanthu"), first).current.sha256)
    assert register.printed_number(second_pdf) == register.PrintedNumber(2, "UBND-VP")
    day, month, year = date_parts(issued_on)  # filled into the draft's own date blanks
    assert [_field(second_pdf, f"ngay_ban_hanh_{part}") for part in ("ngay", "thang", "nam")] == [day, month, year], \
        "the issue date is printed"

    with session_scope(settings.database_url) as s:  # the second goes out first: its own number, not count+1
        exchange_id = ds.send_document(s, settings, _actor(settings, "tinh.vanthu"), second, [LAC_SON]).id
    with session_scope(settings.database_url) as s:
        exchange = s.get(Exchange, exchange_id)
        header = edxml.parse_document_packet(svc.read_packet(settings, exchange)).message_header
    assert (header.code.code_number, header.code.code_notation) == ("02", "UBND-VP")
    assert header.document_id == f"{PROVINCE},{issued_on:%Y/%m/%d},02/UBND-VP"
    assert header.promulgation_info.promulgation_date == issued_on

    # the first document's PDF, sent from outside (CLI, API) with another number: refused, nothing written
    with pytest.raises(register.NumberMismatch, match="shows Số: 01/UBND-VP but number 07 was given"):
        _external_send(settings, first_pdf, "07")
    # without a number it goes out as what it is: document 1, number 01 of the register
    exchange_id = _external_send(settings, first_pdf)
    with session_scope(settings.database_url) as s:
        exchange = s.get(Exchange, exchange_id)
        assert exchange.document_id == first
        assert exchange.edxml_document_id == f"{PROVINCE},{issued_on:%Y/%m/%d},01/UBND-VP"
        assert s.scalar(select(OutgoingEntry.number).order_by(OutgoingEntry.number.desc()).limit(1)) == 2


def test_a_pdf_printing_a_number_the_book_gave_another_document_is_refused(demo_online, tmp_path):
    settings = demo_online
    _issued(settings, tmp_path, 1)
    foreign = sealed_pdf(settings, PROVINCE, tmp_path / "other", number="01", notation="UBND-VP").read_bytes()
    assert register.printed_number(foreign) == register.PrintedNumber(1, "UBND-VP")
    with session_scope(settings.database_url) as s:
        before = s.scalar(select(OutgoingEntry.id).order_by(OutgoingEntry.id.desc()).limit(1))
    with pytest.raises(register.NumberTaken, match="number 01 is already used in Sổ văn bản đi"):
        _external_send(settings, foreign)
    # a number the book has not given yet is written into it when the document goes out
    fresh = sealed_pdf(settings, PROVINCE, tmp_path / "fresh", number="05", notation="UBND-VP").read_bytes()
    exchange_id = _external_send(settings, fresh, "5")
    with session_scope(settings.database_url) as s:
        exchange = s.get(Exchange, exchange_id)
        assert exchange.edxml_document_id.endswith(",05/UBND-VP")
        entry = s.scalar(select(OutgoingEntry).where(OutgoingEntry.number == 5))
        assert entry.document_id == exchange.document_id and entry.id > before


def test_clerks_issuing_at_the_same_moment_get_one_number_each(demo, tmp_path):
    """Real issues (signing included) from threads, each in its own transaction: the register hands out
    01..n once each and every PDF prints the number its register entry has."""
    import threading

    settings = demo
    clerk, leader = _actor(settings, "tinh.vanthu"), _actor(settings, "tinh.lanhdao")
    ids = []
    for n in range(4):
        with session_scope(settings.database_url) as s:
            pdf = make_pdf(tmp_path / f"draft{n}.pdf").read_bytes()
            ids.append(ds.upload_document(s, settings, clerk, io.BytesIO(pdf), title=f"Văn bản {n}",
                                          notation="UBND-VP").id)
        with session_scope(settings.database_url) as s:
            ds.approve_document(s, settings, leader, ids[-1], level="B-B")
    start = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def issue(document_id: int) -> None:
        try:
            start.wait(timeout=60)
            with session_scope(settings.database_url) as s:
                ds.issue_document(s, settings, clerk, document_id, notation="UBND-VP", level="B-B")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    store = BlobStore(settings.blob_dir)
    with session_scope(settings.database_url) as s:
        entries = s.scalars(select(OutgoingEntry).order_by(OutgoingEntry.number)).all()
        assert [e.number for e in entries] == [1, 2, 3, 4] and {e.document_id for e in entries} == set(ids)
        for entry in entries:
            pdf = store.read_bytes(ds.get_document(s, clerk, entry.document_id).current.sha256)
            assert register.printed_number(pdf) == register.PrintedNumber(entry.number, "UBND-VP")
