"""The registers' pages: the arrivals register with its date filter, exports and handling fields, the
outgoing register, the arrival stamp; scoped to the person's agency and role."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select

from docsign.db import session_scope
from docsign.documents import register
from docsign.exchange import service as svc
from docsign.models import Agency, ArrivalEntry, Document, DocumentOrigin, DocumentRevision, Signature
from docsign.storage import BlobStore
from docsign.web.app import create_app
from tests.unit.signing.pdfgen import make_pdf
from tests.web.test_api import DEPT, api, sealed  # noqa: F401 (fixtures)
from tests.web.test_documents import Browser, _flash

pytestmark = pytest.mark.embedded_only
TINH, LACSON, TANLAC = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30"
VN = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture
def arrivals(demo, tmp_path):  # type: ignore[no-untyped-def]
    """Three documents from the province in Lạc Sơn's register (a real PDF each), the last a duplicate."""
    store = BlobStore(demo.blob_dir)
    blob = store.put_bytes(make_pdf(tmp_path / "den.pdf").read_bytes())
    with session_scope(demo.database_url) as s:
        province = s.scalar(select(Agency).where(Agency.code == TINH))
        lac_son = s.scalar(select(Agency).where(Agency.code == LACSON))
        ids = []
        for day, number in ((3, "05"), (20, "09"), (21, "05")):
            document = Document(agency=lac_son, origin=DocumentOrigin.RECEIVED, title=f"Công văn số {number}",
                                document_type="Công văn", code_number=number, code_notation="UBND-VP",
                                promulgation_date=dt.date(2026, 3, 2))
            document.revisions.append(DocumentRevision(number=1, sha256=blob.key, size=blob.size, action="receive"))
            s.add(document)
            entry = register.register_arrival(s, document, agency_id=lac_son.id, issuer=province,
                                              edxml_document_id=f"{TINH},2026/03/02,{number}/UBND-VP",
                                              arrived_at=dt.datetime(2026, 3, day, 9, tzinfo=VN))
            ids.append((entry.id, document.id))
    return demo, ids


def test_the_arrivals_register_lists_filters_exports_and_records_handling(arrivals):
    settings, ids = arrivals
    app = create_app(settings)
    clerk = Browser(app, "lacson.vanthu")
    page = clerk.text("/registers/arrivals")
    assert "Sổ đăng ký văn bản đến" in page and page.count("<tr") == 4
    assert "05/UBND-VP" in page and "Trùng" in page and "Ủy ban nhân dân tỉnh Hòa Bình" in page
    march = clerk.text("/registers/arrivals?from=2026-03-10&to=2026-03-20")
    assert march.count("<tr") == 2 and "09/UBND-VP" in march and "Công văn số 05" not in march
    assert "Arrivals register" in clerk.text("/registers/arrivals?lang=en")
    clerk.text("/registers/arrivals?lang=vi")

    for fmt, media in (("csv", "text/csv"), ("xlsx", "application/vnd.openxmlformats"), ("pdf", "application/pdf")):
        resp = clerk.get(f"/registers/arrivals.{fmt}?from=2026-03-01&to=2026-03-31")
        assert resp.status_code == 200 and resp.mimetype.startswith(media)
        assert f"so-van-ban-den-{LACSON}-20260301-20260331.{fmt}" in resp.headers["Content-Disposition"]
    assert "09/UBND-VP" in clerk.get("/registers/arrivals.csv").get_data(as_text=True)
    assert clerk.get("/registers/arrivals?from=yesterday").status_code == 400
    assert clerk.get("/registers/arrivals.docx").status_code == 404

    entry_id = ids[1][0]
    page = clerk.follow(clerk.post(f"/registers/arrivals/{entry_id}",
                                   {"handling_unit": "Phòng Nội vụ", "due_date": "2026-04-15"}))
    assert "Đã ghi đơn vị xử lý" in _flash(page) and "Phòng Nội vụ" in page
    page = clerk.follow(clerk.post(f"/registers/arrivals/{entry_id}", {"due_date": "2026-03-01"}))
    assert "before the arrival" in _flash(page)
    with session_scope(settings.database_url) as s:
        entry = s.get(ArrivalEntry, entry_id)
        assert (entry.handling_unit, entry.due_date) == ("Phòng Nội vụ", dt.date(2026, 4, 15))

    # the officer reads the register but does not assign; another agency sees none of it
    officer = Browser(app, "lacson.chuyenvien")
    assert "Phòng Nội vụ" in officer.text("/registers/arrivals")
    assert officer.post(f"/registers/arrivals/{entry_id}", {"handling_unit": "x"}).status_code == 403
    outsider = Browser(app, "tanlac.vanthu")
    assert "Công văn số" not in outsider.text("/registers/arrivals")
    assert "Công văn số" not in outsider.get("/registers/arrivals.csv").get_data(as_text=True)
    assert outsider.post(f"/registers/arrivals/{entry_id}", {"handling_unit": "x"}).status_code == 404


def test_the_arrival_stamp_carries_the_registers_number_and_date(arrivals):
    settings, ids = arrivals
    app = create_app(settings)
    clerk = Browser(app, "lacson.vanthu")
    _, document_id = ids[1]
    resp = clerk.post(f"/documents/{document_id}/arrival-stamp", {"level": "B-B"})
    assert resp.status_code == 303
    clerk.get(resp.headers["Location"])  # the flash is shown (and consumed) by the next page
    with session_scope(settings.database_url) as s:
        revisions = s.scalars(select(DocumentRevision).where(DocumentRevision.document_id == document_id)
                              .order_by(DocumentRevision.number)).all()
        assert [r.action for r in revisions] == ["receive", "income"]
        signature = s.scalar(select(Signature).where(Signature.revision_id == revisions[-1].id))
        assert signature.role == "income"
        assert BlobStore(settings.blob_dir).read_bytes(revisions[-1].sha256).startswith(b"%PDF-")
    again = clerk.post(f"/documents/{document_id}/arrival-stamp", {"level": "B-B"})
    assert again.status_code == 303
    duplicate = clerk.post(f"/documents/{ids[2][1]}/arrival-stamp", {"level": "B-B"})
    assert duplicate.status_code == 303
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(DocumentRevision.number).where(DocumentRevision.document_id == document_id)
                        .order_by(DocumentRevision.number.desc()).limit(1)) == 2, "stamped once"
        assert len(s.scalars(select(DocumentRevision).where(DocumentRevision.document_id == ids[2][1])).all()) == 1
    officer = Browser(app, "lacson.chuyenvien")
    assert officer.post(f"/documents/{ids[0][1]}/arrival-stamp", {"level": "B-B"}).status_code == 403


def test_the_outgoing_register_page(demo):
    app = create_app(demo)
    with session_scope(demo.database_url) as s:
        agency = s.scalar(select(Agency).where(Agency.code == TINH))
        register.take_number(s, agency.id, issued_on=register.today(), notation="UBND-VP", subject="Giấy mời họp",
                             signer="Nguyễn Văn An")
    clerk = Browser(app, "tinh.vanthu")
    page = clerk.text("/registers/outgoing")
    assert "Sổ đăng ký văn bản đi" in page and "01/UBND-VP" in page and "Giấy mời họp" in page
    assert "01/UBND-VP" not in Browser(app, "lacson.vanthu").text("/registers/outgoing")
    assert clerk.get("/registers/outgoing.xlsx").status_code == 200


def test_the_api_gives_the_tokens_agency_its_arrivals_register(api, sealed):  # noqa: F811 (the fixtures above)
    sent = api("POST", "/api/v1/exchanges", data={"file": (io.BytesIO(sealed), "cv.pdf"), "to": LACSON,
                                                   "subject": "Về việc sổ đến qua API", "notation": "UBND-VP"})
    assert sent.status_code == 201, sent.json
    with session_scope(api.settings.database_url) as s:
        svc.receive(s, api.settings, sent.json["deliveries"][0]["id"])
    rows = api("GET", "/api/v1/register/arrivals", code=LACSON).json
    assert [(r["arrival_number"], r["issuer"]["code"], r["code_number"], r["code_notation"], r["duplicate_of"])
            for r in rows] == [(1, TINH, "01", "UBND-VP", None)]
    assert rows[0]["document_id"] == sent.json["document_id"]
    assert rows[0]["arrival_date"] == register.today().isoformat()
    assert api("GET", "/api/v1/register/arrivals", code=DEPT).json == [], "another agency's register is not shown"
    csv_export = api("GET", "/api/v1/register/arrivals?format=csv", code=LACSON)
    assert csv_export.mimetype == "text/csv" and "Về việc sổ đến qua API" in csv_export.get_data(as_text=True)
    later = api("GET", f"/api/v1/register/arrivals?from={register.today() + dt.timedelta(days=1)}", code=LACSON)
    assert later.json == []
    for query in ("?format=docx", "?from=hôm-qua"):
        bad = api("GET", f"/api/v1/register/arrivals{query}", code=LACSON)
        assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    assert api("GET", "/api/v1/register/arrivals", code=None).status_code == 401
