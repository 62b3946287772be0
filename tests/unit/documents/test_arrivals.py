"""The arrivals register (sổ văn bản đến): numbers on receipt, duplicates, the Appendix IV fields, date
filters and the exports, on every backend."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.documents import export, register
from docsign.exchange import edxml, packet_seals
from docsign.exchange import service as svc
from docsign.exchange.directory import add_agency, get_agency
from docsign.models import ArrivalEntry, Delivery, Document, DocumentOrigin, Exchange, StatusEvent
from tests.support.documents import sealed_pdf

pytestmark = pytest.mark.backend
PROVINCE, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30"
VN = dt.timezone(dt.timedelta(hours=7))


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=VN)


def _arrive(session, agency, issuer, *, number="05", notation="UBND-VP", document_id=None, when=None,
            business_type=0, subject="Về việc triển khai chữ ký số", type_name="Công văn"):  # type: ignore[no-untyped-def]
    issued = dt.date(2026, 3, 2)
    document = Document(agency=agency, origin=DocumentOrigin.RECEIVED, title=subject, document_type=type_name,
                        code_number=number, code_notation=notation, promulgation_date=issued)
    session.add(document)
    return register.register_arrival(
        session, document, agency_id=agency.id, issuer=issuer, business_type=business_type,
        edxml_document_id=document_id or edxml.make_document_id(issuer.code, issued, number, notation),
        due_date=dt.date(2026, 3, 30), arrived_at=when or _at(dt.date(2026, 3, 3)))


@pytest.fixture
def agencies(session):  # type: ignore[no-untyped-def]
    province = add_agency(session, code=PROVINCE, name="Ủy ban nhân dân tỉnh Hòa Bình")
    lac_son = add_agency(session, code=LAC_SON, name="Ủy ban nhân dân huyện Lạc Sơn")
    tan_lac = add_agency(session, code=TAN_LAC, name="Ủy ban nhân dân huyện Tân Lạc")
    session.commit()
    return province, lac_son, tan_lac


def test_arrival_numbers_run_per_agency_and_year_and_duplicates_take_none(session, agencies):
    province, lac_son, tan_lac = agencies
    first = _arrive(session, lac_son, province, number="5")
    second = _arrive(session, lac_son, province, number="06")
    other_agency = _arrive(session, tan_lac, province, number="05")
    assert (first.number, second.number, other_agency.number) == (1, 2, 1)
    assert (first.code_number, first.code_text) == ("05", "05/UBND-VP"), "numbers are kept as Decree 30 writes them"
    assert (first.issuer_name, first.issued_on, first.due_date, first.arrived_on) == (
        "Ủy ban nhân dân tỉnh Hòa Bình", dt.date(2026, 3, 2), dt.date(2026, 3, 30), dt.date(2026, 3, 3))

    same_id = _arrive(session, lac_son, province, number="05", document_id=first.edxml_document_id)
    same_code = _arrive(session, lac_son, province, number="05", document_id="7c1e-uuid-from-another-system")
    assert same_id.number is None and same_id.duplicate_of_id == first.id
    assert same_code.number is None and same_code.duplicate_of_id == first.id
    # not duplicates: an update reusing the DocumentId, the same number from another issuer or another year
    update = _arrive(session, lac_son, province, number="05", document_id=first.edxml_document_id, business_type=2)
    from_other = _arrive(session, lac_son, tan_lac, number="05")
    document = Document(agency=lac_son, origin=DocumentOrigin.RECEIVED, title="Năm sau", code_number="05",
                        code_notation="UBND-VP", promulgation_date=dt.date(2027, 1, 4))
    session.add(document)
    next_year_doc = register.register_arrival(session, document, agency_id=lac_son.id, issuer=province,
                                              edxml_document_id="x", arrived_at=_at(dt.date(2027, 1, 5)))
    assert (update.number, from_other.number, next_year_doc.number) == (3, 4, 1), "2027 starts at 01 again"
    session.commit()
    assert [e.number for e in register.arrivals(session, lac_son.id)] == [1, 2, None, None, 3, 4, 1]


def test_the_register_is_filtered_by_dates_and_exported(session, agencies, tmp_path):
    province, lac_son, _ = agencies
    for day, subject in ((1, "Đầu tháng"), (15, '=HYPERLINK("http://evil","x")'), (28, "Cuối tháng")):
        _arrive(session, lac_son, province, number=str(day), when=_at(dt.date(2026, 4, day)), subject=subject,
                type_name=None)
    session.commit()
    middle = register.arrivals(session, lac_son.id, dt.date(2026, 4, 10), dt.date(2026, 4, 28))
    assert [e.number for e in middle] == [2, 3]
    with pytest.raises(register.InvalidInput, match=r"starts .* after it ends"):
        register.arrivals(session, lac_son.id, dt.date(2026, 5, 1), dt.date(2026, 4, 1))

    table = export.arrivals_table(middle, lac_son.name, dt.date(2026, 4, 10), dt.date(2026, 4, 28))
    rows = list(csv.reader(io.StringIO(export.to_csv(table).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Ngày đến", "Số đến", "Tác giả"]
    assert rows[1][:4] == ["15/04/2026", "02", "Ủy ban nhân dân tỉnh Hòa Bình", "15/UBND-VP"]
    assert rows[1][5] == "'=HYPERLINK(\"http://evil\",\"x\")", "a packet's text never becomes a formula"
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row), "no formula from a packet"

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(export.to_xlsx(table))).active
    assert sheet["A1"].value.startswith("SỔ ĐĂNG KÝ VĂN BẢN ĐẾN") and sheet["A2"].value.startswith("Từ ngày 10/04")
    assert [sheet.cell(row=r, column=2).value for r in (4, 5)] == ["02", "03"]
    assert all(sheet.cell(row=r, column=c).data_type == "s" for r in (4, 5) for c in range(1, 10)
               if sheet.cell(row=r, column=c).value)

    pdf = tmp_path / "so-den.pdf"
    pdf.write_bytes(export.to_pdf(table))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in text and "Ủy ban nhân dân tỉnh Hòa" in text and "Cuối tháng" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "NotoSerif" in fonts and "yes" in fonts.split("\n")[2], "the Vietnamese font is embedded"


def test_a_received_document_is_registered_once_even_when_it_comes_again(demo_online, tmp_path):
    """Through the real exchange: receipt numbers the arrival and says so in the 01; the same document sent
    again under another DocumentId (another system's packet) is flagged as a duplicate, not numbered again."""
    settings = demo_online
    pdf = sealed_pdf(settings, PROVINCE, tmp_path / "docs", number="05").read_bytes()
    request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON, TAN_LAC), subject="Về việc số đến")
    with session_scope(settings.database_url) as s:
        exchange_id = svc.send(s, settings, request, pdf, actor="test").id
    with session_scope(settings.database_url) as s:
        packet_bytes = svc.read_packet(settings, s.get(Exchange, exchange_id))
        deliveries = s.scalars(select(Delivery.id).where(Delivery.exchange_id == exchange_id)).all()
    for delivery_id in deliveries:
        with session_scope(settings.database_url) as s:
            assert svc.receive(s, settings, delivery_id).state == "delivered"
    with session_scope(settings.database_url) as s:
        entries = s.scalars(select(ArrivalEntry).order_by(ArrivalEntry.id)).all()
        assert [(e.book.agency.code, e.number, e.code_text, e.issuer_code) for e in entries] == [
            (LAC_SON, 1, "05/UBND-VP", PROVINCE), (TAN_LAC, 1, "05/UBND-VP", PROVINCE)]
        assert entries[0].document.received_via_delivery_id in deliveries
        arrived = s.scalar(select(StatusEvent.description).where(StatusEvent.code == "01").limit(1))
        assert "số đến 01" in arrived

    # the same document again, in a packet another system wrote with another DocumentId (its own date part)
    packet = edxml.parse_document_packet(packet_bytes)
    unsigned = edxml.build_document_packet(replace(packet, signature=""))
    other_id = unsigned.replace(packet.message_header.document_id.encode(),
                                f"{PROVINCE},2020/01/02,05/UBND-VP".encode())
    with session_scope(settings.database_url) as s:
        # that system seals its packet with the sender's key too (the packet's XML signature is checked on receipt)
        again = packet_seals.seal_outgoing(s, settings, get_agency(s, PROVINCE), other_id)
    with session_scope(settings.database_url) as s:
        second_exchange = svc.import_packet(s, settings, again, actor="test").id
    with session_scope(settings.database_url) as s:
        seconds = s.scalars(select(Delivery.id).where(Delivery.exchange_id == second_exchange)).all()
    for delivery_id in seconds:
        with session_scope(settings.database_url) as s:
            assert svc.receive(s, settings, delivery_id).state == "delivered"
    with session_scope(settings.database_url) as s:
        entries = s.scalars(select(ArrivalEntry).order_by(ArrivalEntry.id)).all()
        assert [(e.number, e.duplicate_of_id) for e in entries[2:]] == [(None, entries[0].id), (None, entries[1].id)]
        assert s.scalar(select(func.count()).select_from(ArrivalEntry).where(ArrivalEntry.number.is_not(None))) == 2
