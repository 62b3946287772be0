"""The statistics page: charts drawn on the server with a table beside each, CSV/XLSX downloads, who sees
which agencies, bad periods refused; and the clerk's record of a paper sending."""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.documents import register
from docsign.exchange.directory import add_agency
from docsign.models import Agency, PaperSending
from docsign.web.app import create_app
from tests.unit.reports.history import seed
from tests.web.test_documents import Browser, _flash

pytestmark = pytest.mark.embedded_only
TINH, LACSON, TANLAC = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30"
PHONG, VPCP = "000.01.35.H30", "000.00.00.G22"
PERIOD = "from=2026-01&to=2026-02"


@pytest.fixture
def history(demo):  # type: ignore[no-untyped-def]
    """The seeded history with the demo province as P, Lạc Sơn as C, a unit under Lạc Sơn as G and the
    Government Office (a separate tree) as the sender."""
    with session_scope(demo.database_url) as s:
        agencies = {a.code: a for a in s.scalars(select(Agency))}
        g = add_agency(s, code=PHONG, name="Phòng Nội vụ huyện Lạc Sơn", parent_code=LACSON)
        sender = add_agency(s, code=VPCP, name="Văn phòng Chính phủ")
        seed(s, agencies[TINH], agencies[LACSON], g, sender)
    return demo


def _svg(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_the_page_shows_charts_with_tables_to_the_agencies_each_person_may_see_and_paper_is_recorded(history):
    app = create_app(history)
    clerk = Browser(app, "lacson.vanthu")
    page = clerk.text(f"/reports/adoption?{PERIOD}")
    charts = _svg(page)
    assert len(charts) == 2 and all(c.lstrip().startswith(b"<?xml") and b"<svg" in c for c in charts)
    assert not any(b"<script" in c for c in charts)
    assert page.count('<table class="register chart-data">') == 2, "a table beside each chart"
    assert "Văn bản điện tử và văn bản giấy theo tháng" in page and "<th scope=\"row\">02/2026</th>" in page
    # Lạc Sơn sees itself and the unit under it, not the province nor its other districts
    assert "Phòng Nội vụ huyện Lạc Sơn" in page and "Ủy ban nhân dân huyện Tân Lạc" not in page
    assert "Văn phòng Chính phủ" not in page.split("<h2>")[-1]
    assert clerk.get(f"/reports/adoption?{PERIOD}&agency={TINH}").status_code == 404
    rows = list(csv.reader(io.StringIO(clerk.get(f"/reports/adoption.csv?{PERIOD}").get_data(as_text=True)
                                       .lstrip("\ufeff"))))
    assert {r[1] for r in rows[1:]} == {LACSON, PHONG}
    lacson_jan = next(r for r in rows if r[:2] == ["2026-01", LACSON] and r[4] == "Gồm đơn vị trực thuộc")
    assert lacson_jan[5:10] == ["1", "1", "2", "1", "1"] and lacson_jan[-1] == "2"
    xlsx = clerk.get(f"/reports/adoption.xlsx?{PERIOD}&agency={PHONG}")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert "Incoming documents by agency" in clerk.text(f"/reports/adoption?{PERIOD}&lang=en")
    clerk.text("/reports/adoption?lang=vi")  # the default period: the last twelve months

    for query, says in (("from=2026-03&to=2026-01", "reversed"), ("from=2010-01&to=2026-01", "longer than 10 years"),
                        ("from=2026-13&to=2026-14", "is not a month")):
        for url in (f"/reports/adoption?{query}", f"/reports/adoption.csv?{query}"):
            resp = clerk.get(url)
            assert resp.status_code == 400 and says in resp.get_data(as_text=True), url

    leader = Browser(app, "tinh.lanhdao")
    page = leader.text(f"/reports/adoption?{PERIOD}")
    assert "Ủy ban nhân dân huyện Tân Lạc" in page and "Phòng Nội vụ huyện Lạc Sơn" in page
    assert "Văn phòng Chính phủ" not in page.split("<h2>")[-1], "another tree is not the province's"
    admin = Browser(app, "admin")
    assert "Văn phòng Chính phủ" in admin.text(f"/reports/adoption?{PERIOD}").split("<h2>")[-1]


    _the_clerk_records_a_paper_sending_from_the_outgoing_register(app, history)


def _the_clerk_records_a_paper_sending_from_the_outgoing_register(app, history):  # type: ignore[no-untyped-def]
    # (in the same test: the demo's PKI and users are made once)
    with session_scope(history.database_url) as s:
        lacson = s.scalar(select(Agency).where(Agency.code == LACSON))
        entry_id = register.take_number(s, lacson.id, issued_on=register.today(), notation="UBND-VP",
                                        subject="Giấy mời họp").id
        province_entry = register.take_number(s, s.scalar(select(Agency.id).where(Agency.code == TINH)),
                                              issued_on=register.today(), notation="UBND-VP", subject="x").id
    clerk = Browser(app, "lacson.vanthu")
    assert "Ghi gửi bản giấy" in clerk.text("/registers/outgoing")
    page = clerk.follow(clerk.post(f"/registers/outgoing/{entry_id}/paper", {"recipient": "  Bưu điện  tỉnh "}))
    assert "Đã ghi nhận văn bản gửi bản giấy" in _flash(page) and "Bưu điện tỉnh" in page
    page = clerk.follow(clerk.post(f"/registers/outgoing/{entry_id}/paper", {"recipient": "Bưu điện tỉnh"}))
    assert "already recorded" in _flash(page)
    page = clerk.follow(clerk.post(f"/registers/outgoing/{entry_id}/paper",
                                   {"recipient": "Công an huyện", "sent_on": "2099-01-01"}))
    assert "in the future" in _flash(page)
    assert clerk.post(f"/registers/outgoing/{province_entry}/paper", {"recipient": "x"}).status_code == 404
    officer = Browser(app, "lacson.chuyenvien")
    assert "Ghi gửi bản giấy" not in officer.text("/registers/outgoing")
    assert officer.post(f"/registers/outgoing/{entry_id}/paper", {"recipient": "y"}).status_code == 403
    with session_scope(history.database_url) as s:
        assert s.scalar(select(func.count()).select_from(PaperSending).where(PaperSending.entry_id == entry_id)) == 1
    today = register.today()
    rows = list(csv.reader(io.StringIO(clerk.get(f"/reports/adoption.csv?from={today:%Y-%m}&to={today:%Y-%m}")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert next(r for r in rows if r[1] == LACSON and r[4] == "Đơn vị")[-1] == "1", "counted as sent on paper"
