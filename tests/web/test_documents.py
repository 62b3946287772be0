"""The people's side of the exchange through the Flask test client, on every backend: upload, approve,
issue, send, inbox, statuses, recall; upload and signing errors; and the permission matrix that tries
to cross the agency line and the role line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from docsign.config import Settings
from docsign.db import session_scope
from docsign.exchange import edxml
from docsign.exchange.send import read_packet
from docsign.exchange.verdicts import ISSUED_VERDICTS
from docsign.models import (
    AuditEvent,
    Delivery,
    Document,
    DocumentRevision,
    Exchange,
    KeyRef,
    Signature,
    User,
)
from docsign.web.app import create_app
from tests.support.backends import backend_names, provision
from tests.support.demo import online_demo
from tests.unit.signing.pdfgen import make_pdf

pytestmark = pytest.mark.backend

TINH, LACSON, TANLAC, SOTTTT = "000.00.00.H30", "000.00.35.H30", "000.00.36.H30", "000.00.16.H30"
PASSWORD = "docsign-demo"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


# -- helpers ---------------------------------------------------------------------------------------

class Browser:
    """A logged-in person using the test client: gets pages, posts forms with the page's CSRF token."""

    def __init__(self, app, login: str) -> None:  # type: ignore[no-untyped-def]
        self.client = app.test_client()
        self.login = login
        page = self.client.get("/login").get_data(as_text=True)
        resp = self.client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": _csrf(page)})
        assert resp.status_code == 302, f"{login} cannot log in"
        self.token = _csrf(self.client.get("/dashboard").get_data(as_text=True))

    def get(self, url: str):  # type: ignore[no-untyped-def]
        return self.client.get(url)

    def text(self, url: str) -> str:
        resp = self.client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        return resp.get_data(as_text=True)

    def post(self, url: str, data: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def follow(self, resp) -> str:  # type: ignore[no-untyped-def]
        assert resp.status_code == 303, (resp.status_code, resp.get_data(as_text=True)[:500])
        return self.text(resp.headers["Location"])


def _csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def _flash(html: str) -> str:
    return " ".join(re.findall(r'<p class="flash [a-z]+" role="alert">([^<]*)</p>', html))


def _pdf(tmp_path: Path, name: str = "draft.pdf", pages: int = 1) -> bytes:
    return make_pdf(tmp_path / name, pages).read_bytes()


def upload(clerk: Browser, pdf: bytes, title: str = "Về việc triển khai chữ ký số", notation: str = "UBND-VP",
           document_type: str = "Công văn"):  # type: ignore[no-untyped-def]
    return clerk.post("/documents/new", {"title": title, "document_type": document_type, "notation": notation,
                                         "file": (io.BytesIO(pdf), "du-thao.pdf")},
                      content_type="multipart/form-data")


def _id_from(location: str, prefix: str) -> str:
    match = re.search(prefix + r"/([^/?#]+)", location)
    assert match, location
    return match.group(1)


def count(settings: Settings, model, *where) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def receive_all(settings: Settings) -> None:
    """The recipients' side of every queued delivery, as the worker's `deliver` task runs it."""
    from docsign.exchange import service as exchange_service

    with session_scope(settings.database_url) as s:
        ids = s.scalars(select(Delivery.id).where(Delivery.state == "queued")).all()
    for delivery_id in ids:
        with session_scope(settings.database_url) as s:
            exchange_service.receive(s, settings, delivery_id)


def audit_actions(settings: Settings, actor: str) -> list[str]:
    with session_scope(settings.database_url) as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == actor).order_by(AuditEvent.id)))


# -- the whole flow --------------------------------------------------------------------------------

def test_a_document_goes_from_the_province_to_two_districts_and_back(demo_online, tmp_path):
    settings = demo_online
    app = create_app(settings)
    clerk, leader = Browser(app, "tinh.vanthu"), Browser(app, "tinh.lanhdao")

    # 1. the clerk uploads a draft
    draft = _pdf(tmp_path, pages=2)
    resp = upload(clerk, draft)
    page = clerk.follow(resp)
    document_id = int(_id_from(resp.headers["Location"], "/documents"))
    assert "Đã tải lên dự thảo" in _flash(page) and "Chờ ký duyệt" in page
    assert f'action="/documents/{document_id}/approve"' not in page  # the clerk gets no approve form

    # 2. the leader sees it waiting and approves it
    listing = leader.text("/documents")
    assert "Về việc triển khai chữ ký số" in listing
    assert "1</span> dự thảo chờ ký duyệt" in leader.text("/dashboard").replace('<span class="number">', "")
    detail = leader.text(f"/documents/{document_id}")
    assert f'action="/documents/{document_id}/approve"' in detail
    page = leader.follow(leader.post(f"/documents/{document_id}/approve",
                                     {"revision": "1", "level": "B-T", "signing_prefix": "TM. Ủy ban nhân dân"}))
    assert "Đã ký duyệt" in _flash(page) and "Chờ phát hành" in page

    # 3. the clerk issues it with the suggested number and sends it to two districts
    detail = clerk.text(f"/documents/{document_id}")
    assert 'name="number"' in detail and 'value="01"' in detail and 'value="UBND-VP"' in detail
    page = clerk.follow(clerk.post(f"/documents/{document_id}/issue",
                                   {"revision": "2", "number": "01", "notation": "UBND-VP", "level": "B-T"}))
    assert "Đã ký phát hành" in _flash(page) and "01/UBND-VP" in page and "Chờ gửi" in page
    assert page.count('class="verdict green"') == 2, "the approval and the seal both verify"
    with session_scope(settings.database_url) as s:
        revisions = s.scalars(select(DocumentRevision).where(DocumentRevision.document_id == document_id)
                              .order_by(DocumentRevision.number)).all()
        assert [r.action for r in revisions] == ["upload", "approve", "issue"]
        assert len({r.sha256 for r in revisions}) == 3
        signatures = s.scalars(select(Signature).join(DocumentRevision)
                               .where(DocumentRevision.document_id == document_id).order_by(Signature.id)).all()
        assert [(sig.role, sig.level) for sig in signatures] == [("approve", "B-T"), ("issue", "B-T")]
        assert signatures[0].signer_common_name == "Nguyễn Văn An"
    send_form = clerk.text(f"/documents/{document_id}")
    assert 'name="due_date"' in send_form and 'name="steering_type"' in send_form and 'name="to_places"' in send_form
    reused, verified = ISSUED_VERDICTS.reused, ISSUED_VERDICTS.verified
    resp = clerk.post(f"/documents/{document_id}/send", {
        "to": [LACSON, TANLAC], "due_date": "2030-01-15", "steering_type": "2", "content": "Triển khai trước Tết",
        "to_places": "Như trên;\nLưu: VT, VP."})
    assert (ISSUED_VERDICTS.reused, ISSUED_VERDICTS.verified) == (reused + 1, verified), \
        "the send uses the verdict recorded when the document was issued"
    exchange_id = _id_from(resp.headers["Location"], "/sent")
    page = clerk.follow(resp)
    assert "Đã gửi" in _flash(page) and page.count("Đang gửi") >= 2
    with session_scope(settings.database_url) as s:
        exchange = s.get(Exchange, exchange_id)
        assert exchange.document_id == document_id and exchange.revision.number == 3
        # What the axis reads: the approval's signer with its TM. line and position, and the send form's fields.
        header = edxml.parse_document_packet(read_packet(settings, exchange)).message_header
        leader_row = s.scalar(select(User).where(User.login == "tinh.lanhdao"))
        assert header.signer_info == edxml.SignerInfo("TM. Ủy ban nhân dân", leader_row.position or "", "Nguyễn Văn An")
        assert (header.due_date, header.steering_type, header.content) == (dt.date(2030, 1, 15), 2,
                                                                           "Triển khai trước Tết")
        assert header.to_places == ("Như trên;", "Lưu: VT, VP.")
        assert s.scalar(select(func.count()).select_from(Document).where(Document.agency.has(code=TINH))) == 1, \
            "sending does not file a second copy of the document"
    assert f'action="/documents/{document_id}/send"' not in clerk.text(f"/documents/{document_id}")

    # 4. the districts receive it (the worker's part), the Lạc Sơn clerk opens and accepts it
    receive_all(settings)
    recipient = Browser(app, "lacson.vanthu")
    inbox = recipient.text("/inbox")
    assert "Về việc triển khai chữ ký số" in inbox and "Đã đến" in inbox
    with session_scope(settings.database_url) as s:
        delivery = s.scalar(select(Delivery).where(Delivery.exchange_id == exchange_id,
                                                   Delivery.recipient.has(code=LACSON)))
        delivery_id, inbox_document_id = delivery.id, delivery.inbox_document_id
        other_id = s.scalar(select(Delivery.id).where(Delivery.exchange_id == exchange_id,
                                                      Delivery.recipient.has(code=TANLAC)))
    detail = recipient.text(f"/inbox/{delivery_id}")
    assert detail.count('class="verdict green"') == 2 and "Ủy ban nhân dân tỉnh Hòa Bình" in detail
    assert _buttons(detail) == ["02", "03"]
    download = recipient.get(f"/documents/{inbox_document_id}/download")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.data.startswith(b"%PDF-") and download.headers["Content-Disposition"].startswith("attachment")
    assert recipient.get(f"/documents/{inbox_document_id}").headers["Location"].endswith(f"/inbox/{delivery_id}")
    page = recipient.follow(recipient.post(f"/deliveries/{delivery_id}/status", {"code": "03"}))
    assert "Đã cập nhật trạng thái" in _flash(page) and "Đã tiếp nhận" in page

    # the officer sees only the progress buttons and moves it on; skipping back is refused
    officer = Browser(app, "lacson.chuyenvien")
    assert _buttons(officer.text(f"/inbox/{delivery_id}")) == ["04", "05", "06"]
    page = officer.follow(officer.post(f"/deliveries/{delivery_id}/status", {"code": "04", "note": "Giao anh Khánh"}))
    assert _buttons(page) == ["05", "06"] and "Giao anh Khánh" in page
    assert officer.post(f"/deliveries/{delivery_id}/status", {"code": "03"}).status_code == 403  # clerk's code
    page = officer.follow(officer.post(f"/deliveries/{delivery_id}/status", {"code": "06"}))
    assert "Hoàn thành" in page and _buttons(page) == []
    page = recipient.follow(recipient.post(f"/deliveries/{delivery_id}/status", {"code": "05"}))
    assert "Không cập nhật được trạng thái" in _flash(page), "statuses only move forward"

    # 5. the sender sees each recipient's state and history, and recalls Tân Lạc's copy
    sent = clerk.text(f"/sent/{exchange_id}")
    assert "Hoàn thành" in sent and "Đã phân công" in sent and "Đã đến" in sent and "(+07:00)" in sent
    assert "Phạm Văn Khánh" in sent  # the officer's name travels with the status
    assert _buttons(sent) == ["13", "13"], "a recall is possible for both recipients"
    page = clerk.follow(clerk.post(f"/deliveries/{other_id}/status", {"code": "13"}))
    assert "Đang yêu cầu thu hồi" in page
    answer = Browser(app, "tanlac.vanthu")
    assert _buttons(answer.text(f"/inbox/{other_id}")) == ["15", "16"]
    assert "yêu cầu thu hồi" in answer.text("/dashboard")
    page = answer.follow(answer.post(f"/deliveries/{other_id}/status", {"code": "16"}))
    assert "Đã đến" in page and _buttons(page) == ["02", "03"], "16 puts the delivery back where it was"
    assert "Đã gửi" in clerk.text("/documents") and "1</span> văn bản đã gửi" in \
        clerk.text("/dashboard").replace('<span class="number">', "")

    # English on request, times in +07:00
    english = recipient.text(f"/inbox/{delivery_id}?lang=en")
    assert "Status history" in english and "Finished" in english and "(+07:00)" in english

    assert {"document.upload", "document.issue", "exchange.send", "document.send",
            "exchange.status.13"} <= set(audit_actions(settings, "user:tinh.vanthu"))
    assert "document.approve" in audit_actions(settings, "user:tinh.lanhdao")
    assert {"document.download", "exchange.status.03"} <= set(audit_actions(settings, "user:lacson.vanthu"))


def _buttons(html: str) -> list[str]:
    return re.findall(r'<button type="submit" name="code" value="(\d\d)"', html)


# -- uploads ---------------------------------------------------------------------------------------

def test_uploads_are_type_checked_and_size_limited(demo, tmp_path):
    small = dataclasses.replace(demo, max_upload_mb=1)
    app = create_app(small)
    clerk = Browser(app, "tinh.vanthu")
    before = count(demo, Document)

    not_pdf = upload(clerk, b"PK\x03\x04 a Word document, not a PDF")
    assert not_pdf.status_code == 415
    assert "Tệp không phải PDF" in _flash(not_pdf.get_data(as_text=True))
    assert "%PDF-" in not_pdf.get_data(as_text=True)

    just_over = upload(clerk, b"%PDF-1.7\n" + b"0" * (1024 * 1024))
    assert just_over.status_code == 413 and "Tệp quá lớn" in _flash(just_over.get_data(as_text=True))
    far_over = upload(clerk, b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    assert far_over.status_code == 413

    no_subject = upload(clerk, _pdf(tmp_path), title="  ")
    assert no_subject.status_code == 400 and "trích yếu" in no_subject.get_data(as_text=True)
    bad_notation = upload(clerk, _pdf(tmp_path), notation="UBND/VP")
    assert bad_notation.status_code == 400

    no_csrf = clerk.client.post("/documents/new", data={"title": "x", "file": (io.BytesIO(_pdf(tmp_path)), "a.pdf")},
                                content_type="multipart/form-data")
    assert no_csrf.status_code == 400
    assert count(demo, Document) == before

    ok = upload(clerk, _pdf(tmp_path))
    assert ok.status_code == 303 and count(demo, Document) == before + 1


def test_signing_errors_are_shown_and_leave_no_revision(demo, tmp_path):
    app = create_app(demo)
    clerk, leader = Browser(app, "tinh.vanthu"), Browser(app, "tinh.lanhdao")

    # a file that starts like a PDF but is not one: the engine refuses it
    resp = upload(clerk, b"%PDF-1.7\nthis is not really a PDF\n%%EOF\n", title="Hỏng")
    broken = int(_id_from(resp.headers["Location"], "/documents"))
    page = leader.follow(leader.post(f"/documents/{broken}/approve", {"level": "B-B"}))
    assert "Không ký duyệt được" in _flash(page)
    assert count(demo, DocumentRevision, DocumentRevision.document_id == broken) == 1
    assert count(demo, Signature) == 0

    # the timestamp authority does not answer (nothing serves the demo PKI here): a clear message
    resp = upload(clerk, _pdf(tmp_path), title="Cần dấu thời gian")
    good = int(_id_from(resp.headers["Location"], "/documents"))
    page = leader.follow(leader.post(f"/documents/{good}/approve", {"level": "B-T"}))
    assert "Không ký duyệt được" in _flash(page) and "timestamp" in _flash(page)
    assert count(demo, DocumentRevision, DocumentRevision.document_id == good) == 1

    # the leader's key is withdrawn: no key, no signature
    with session_scope(demo.database_url) as s:
        leader_id = s.scalar(select(User.id).where(User.login == "tinh.lanhdao"))
        s.get(KeyRef, s.scalar(select(KeyRef.id).where(KeyRef.user_id == leader_id))).active = False
    page = leader.follow(leader.post(f"/documents/{good}/approve", {"level": "B-B"}))
    assert "Không ký duyệt được" in _flash(page) and "no registered personal signing key" in _flash(page)
    assert count(demo, DocumentRevision, DocumentRevision.document_id == good) == 1
    with session_scope(demo.database_url) as s:
        s.get(KeyRef, s.scalar(select(KeyRef.id).where(KeyRef.user_id == leader_id))).active = True

    # steps out of order: issuing a draft, approving twice, sending before issue; a stale form
    page = clerk.follow(clerk.post(f"/documents/{good}/issue", {"number": "1", "notation": "UBND-VP",
                                                                "level": "B-B"}))
    assert "Không phát hành được" in _flash(page) and "approved" in _flash(page)
    page = leader.follow(leader.post(f"/documents/{good}/approve", {"level": "B-B", "revision": "1"}))
    assert "Đã ký duyệt" in _flash(page)
    page = leader.follow(leader.post(f"/documents/{good}/approve", {"level": "B-B", "revision": "1"}))
    assert "Không ký duyệt được" in _flash(page)
    page = clerk.follow(clerk.post(f"/documents/{good}/send", {"to": [LACSON]}))
    assert "Không gửi được" in _flash(page)
    page = clerk.follow(clerk.post(f"/documents/{good}/issue", {"number": "x1", "notation": "UBND-VP",
                                                                "level": "B-B"}))
    assert "Không phát hành được" in _flash(page)
    assert count(demo, DocumentRevision, DocumentRevision.document_id == good) == 2
    refusals = [a for a in audit_actions(demo, "user:tinh.lanhdao") if a.endswith(".refused")]
    assert refusals == ["document.approve.refused"] * 4


def test_issue_numbers_follow_on_and_are_not_reused(demo, tmp_path):
    app = create_app(demo)
    clerk, leader = Browser(app, "tinh.vanthu"), Browser(app, "tinh.lanhdao")
    ids = []
    for n in range(2):
        resp = upload(clerk, _pdf(tmp_path, f"d{n}.pdf"), title=f"Văn bản {n}")
        ids.append(int(_id_from(resp.headers["Location"], "/documents")))
        leader.follow(leader.post(f"/documents/{ids[-1]}/approve", {"level": "B-B"}))
    assert 'value="01"' in clerk.text(f"/documents/{ids[0]}")
    page = clerk.follow(clerk.post(f"/documents/{ids[0]}/issue", {"number": "1", "notation": "ubnd-vp",
                                                                  "level": "B-B"}))
    assert "01/UBND-VP" in page
    assert 'value="02"' in clerk.text(f"/documents/{ids[1]}")
    page = clerk.follow(clerk.post(f"/documents/{ids[1]}/issue", {"number": "01", "notation": "UBND-VP",
                                                                  "level": "B-B"}))
    assert "already used" in _flash(page) and "02" in _flash(page)


# -- who may do what: the agency line and the role line ----------------------------------------------

@pytest.fixture(scope="module", params=backend_names())
def world(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The province's documents at every step, a delivery to Lạc Sơn, built once per backend through the
    domain services: the matrix below only tries what must be refused, so nothing here changes."""
    from docsign.documents import service as ds

    tmp = tmp_path_factory.mktemp("documents-world")
    with provision(request.param, tmp) as backend, online_demo(tmp, backend) as settings:
        def actor(login: str) -> ds.Actor:
            with session_scope(settings.database_url) as s:
                u = s.scalar(select(User).where(User.login == login))
                return ds.Actor(u.id, u.login, u.full_name, u.role.value, u.agency_id, u.agency.code, u.position)

        clerk, leader = actor("tinh.vanthu"), actor("tinh.lanhdao")
        pdf = make_pdf(tmp / "draft.pdf").read_bytes()
        ids = {}
        for name in ("draft", "approved", "issued", "sent"):
            with session_scope(settings.database_url) as s:
                ids[name] = ds.upload_document(s, settings, clerk, io.BytesIO(pdf), title=f"Văn bản {name}",
                                               notation="UBND-VP").id
            if name == "draft":
                continue
            with session_scope(settings.database_url) as s:
                ds.approve_document(s, settings, leader, ids[name], level="B-B")
            if name == "approved":
                continue
            with session_scope(settings.database_url) as s:
                ds.issue_document(s, settings, clerk, ids[name], number=ds.suggest_number(s, clerk),
                                  notation="UBND-VP", level="B-B")
        with session_scope(settings.database_url) as s:
            exchange_id = ds.send_document(s, settings, clerk, ids["sent"], [LACSON]).id
        receive_all(settings)
        with session_scope(settings.database_url) as s:
            delivery = s.scalar(select(Delivery).where(Delivery.exchange_id == exchange_id))
            assert delivery.state == "delivered", delivery.events[-1].description
            ids["delivery"], ids["inbox_document"] = delivery.id, delivery.inbox_document_id
            ds.change_status(s, settings, actor("lacson.vanthu"), delivery.id, "03")
        # The matrix logs in dozens of times a minute from one address: no login rate limit here.
        app = create_app(dataclasses.replace(settings, login_rate=None))
        yield SimpleNamespace(settings=settings, app=app, ids=ids, exchange=exchange_id)


def _snapshot(settings: Settings) -> tuple[int, ...]:
    with session_scope(settings.database_url) as s:
        return (s.scalar(select(func.count(DocumentRevision.id))), s.scalar(select(func.count(Exchange.id))),
                s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state != "accepted")),
                s.scalar(select(func.count(Document.id))))


OUTSIDERS = ["lacson.vanthu", "lacson.lanhdao", "tanlac.vanthu", "tanlac.chuyenvien", "sotttt.lanhdao"]
"""People of other agencies than the province (Lạc Sơn is the recipient of the sent document)."""


def _attempts(w) -> list[tuple[str, str, str, dict]]:  # type: ignore[no-untyped-def]
    i = w.ids
    return [
        ("view draft", "GET", f"/documents/{i['draft']}", {}),
        ("view sent document", "GET", f"/documents/{i['sent']}", {}),
        ("download", "GET", f"/documents/{i['issued']}/download", {}),
        ("download revision", "GET", f"/documents/{i['sent']}/download?revision=1", {}),
        ("approve", "POST", f"/documents/{i['draft']}/approve", {"level": "B-B"}),
        ("issue", "POST", f"/documents/{i['approved']}/issue", {"number": "9", "notation": "X", "level": "B-B"}),
        ("send", "POST", f"/documents/{i['issued']}/send", {"to": [TANLAC]}),
        ("sent page", "GET", f"/sent/{w.exchange}", {}),
        ("recall", "POST", f"/deliveries/{i['delivery']}/status", {"code": "13"}),
    ]


@pytest.mark.parametrize("login", OUTSIDERS)
def test_people_of_other_agencies_cannot_see_or_touch_the_provinces_documents(world, login):
    person = Browser(world.app, login)
    before = _snapshot(world.settings)
    for what, method, url, data in _attempts(world):
        resp = person.get(url) if method == "GET" else person.post(url, data)
        # Lạc Sơn is the recipient of the sent document: it sees its own delivery, but may not recall it
        expected = 403 if (login.startswith("lacson.") and what == "recall") else 404
        assert resp.status_code == expected, f"{login}: {what} {url} gave {resp.status_code}"
    assert "Văn bản sent" not in person.text("/sent") and "Văn bản draft" not in person.text("/documents")
    assert _snapshot(world.settings) == before


@pytest.mark.parametrize("login", ["tanlac.vanthu", "tanlac.chuyenvien", "sotttt.vanthu", "tinh.chuyenvien", "admin"])
def test_only_the_recipient_sees_and_moves_an_incoming_document(world, login):
    """Lạc Sơn received the document: nobody else, the sender included, sees its inbox entry or gives
    it a receiver's status; the inbox copy is Lạc Sơn's alone."""
    person = Browser(world.app, login)
    before = _snapshot(world.settings)
    delivery, inbox_document = world.ids["delivery"], world.ids["inbox_document"]
    assert person.get(f"/inbox/{delivery}").status_code == 404
    assert person.get(f"/documents/{inbox_document}").status_code == 404
    assert person.get(f"/documents/{inbox_document}/download").status_code == 404
    for code in ("04", "05", "06", "02", "15"):
        status = person.post(f"/deliveries/{delivery}/status", {"code": code}).status_code
        if login.startswith("tinh.") or login == "admin":
            assert status == 403, (code, status)  # the sender's people: not their status to give
        else:
            assert status == 404, (code, status)
    assert "Văn bản sent" not in person.text("/inbox")
    assert _snapshot(world.settings) == before


ROLE_DENIALS = [
    ("tinh.chuyenvien", "upload page", "GET", "/documents/new", {}),
    ("tinh.lanhdao", "upload", "POST", "/documents/new", {"title": "x"}),
    ("admin", "upload page", "GET", "/documents/new", {}),
    ("tinh.vanthu", "approve", "POST", "/documents/{draft}/approve", {"level": "B-B"}),
    ("tinh.chuyenvien", "approve", "POST", "/documents/{draft}/approve", {"level": "B-B"}),
    ("admin", "approve", "POST", "/documents/{draft}/approve", {"level": "B-B"}),
    ("tinh.lanhdao", "issue", "POST", "/documents/{approved}/issue", {"number": "9", "notation": "X"}),
    ("tinh.chuyenvien", "issue", "POST", "/documents/{approved}/issue", {"number": "9", "notation": "X"}),
    ("tinh.lanhdao", "send", "POST", "/documents/{issued}/send", {"to": [LACSON]}),
    ("tinh.chuyenvien", "send", "POST", "/documents/{issued}/send", {"to": [LACSON]}),
    ("admin", "send", "POST", "/documents/{issued}/send", {"to": [LACSON]}),
    ("tinh.chuyenvien", "recall", "POST", "/deliveries/{delivery}/status", {"code": "13"}),
    ("tinh.lanhdao", "recall", "POST", "/deliveries/{delivery}/status", {"code": "13"}),
    ("lacson.chuyenvien", "return (02)", "POST", "/deliveries/{delivery}/status", {"code": "02"}),
    ("lacson.lanhdao", "assign (04)", "POST", "/deliveries/{delivery}/status", {"code": "04"}),
    ("lacson.vanthu", "recall own inbox copy (13)", "POST", "/deliveries/{delivery}/status", {"code": "13"}),
]


@pytest.mark.parametrize(("login", "what", "method", "url", "data"), ROLE_DENIALS,
                         ids=[f"{r[0]}-{r[1]}" for r in ROLE_DENIALS])
def test_each_role_does_only_its_own_part(world, login, what, method, url, data):
    person = Browser(world.app, login)
    before = _snapshot(world.settings)
    url = url.format(**world.ids)
    resp = person.get(url) if method == "GET" else person.post(url, data)
    assert resp.status_code == 403, f"{login}: {what} gave {resp.status_code}"
    assert "Không thực hiện được (403)" in resp.get_data(as_text=True)
    assert _snapshot(world.settings) == before


@pytest.mark.parametrize("login", ["tinh.vanthu", "tinh.lanhdao", "tinh.chuyenvien", "admin"])
def test_everyone_of_the_agency_reads_its_documents_but_sees_only_their_own_buttons(world, login):
    person = Browser(world.app, login)
    ids = world.ids
    draft = person.text(f"/documents/{ids['draft']}")
    approved = person.text(f"/documents/{ids['approved']}")
    issued = person.text(f"/documents/{ids['issued']}")
    assert (f'action="/documents/{ids["draft"]}/approve"' in draft) == (login == "tinh.lanhdao")
    assert (f'action="/documents/{ids["approved"]}/issue"' in approved) == (login == "tinh.vanthu")
    assert (f'action="/documents/{ids["issued"]}/send"' in issued) == (login == "tinh.vanthu")
    assert person.get(f"/documents/{ids['sent']}/download").status_code == 200
    sent = person.text(f"/sent/{world.exchange}")
    assert ("Thu hồi (13)" in sent) == (login == "tinh.vanthu")
    assert ("Tải lên dự thảo" in person.text("/documents")) == (login == "tinh.vanthu")


def test_lists_are_scoped_to_the_agency(world):
    lacson = Browser(world.app, "lacson.vanthu")
    assert "Văn bản sent" in lacson.text("/inbox")
    for name in ("draft", "approved", "issued", "sent"):
        assert f"Văn bản {name}" not in lacson.text("/documents")
    assert "Văn bản sent" not in lacson.text("/sent")
    tanlac = Browser(world.app, "tanlac.vanthu")
    assert "Văn bản sent" not in tanlac.text("/inbox")


def test_sending_goes_only_to_other_agencies_of_the_directory(world):
    clerk = Browser(world.app, "tinh.vanthu")
    before = _snapshot(world.settings)
    issued = world.ids["issued"]
    for recipients in (["999.99.99.Z99"], [TINH], [], [LACSON, LACSON.lower()]):
        page = clerk.follow(clerk.post(f"/documents/{issued}/send", {"to": recipients}))
        assert "Không gửi được" in _flash(page), recipients
    assert _snapshot(world.settings) == before
    assert audit_actions(world.settings, "user:tinh.vanthu")[-4:] == ["document.send.refused"] * 4


def test_pages_need_a_login(world):
    client = world.app.test_client()
    for url in ("/documents", "/documents/new", f"/documents/{world.ids['draft']}", "/inbox", "/sent",
                f"/documents/{world.ids['draft']}/download"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url


def test_the_documents_service_imports_no_web_framework():
    code = ("import sys, docsign.documents.service\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('flask', 'celery', 'flask_login', 'flask_wtf'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_an_update_shows_as_the_new_version_of_the_earlier_document(demo_online, tmp_path):
    from docsign.exchange import service as exchange_service
    from tests.support.documents import sealed_pdf

    settings = demo_online
    pdf = sealed_pdf(settings, TINH, tmp_path / "docs", number="31", seal_only=True).read_bytes()
    sent = {}
    for number, business_type in (("31", 0), ("32", 2)):  # the register gives the numbers
        request = exchange_service.SendRequest(
            sender_code=TINH, recipient_codes=(LACSON,), subject=f"Văn bản {number}",
            code_notation="UBND-VP", business_type=business_type,
            related_document_id=sent["31"].edxml_document_id if business_type else None)
        with session_scope(settings.database_url) as s:
            sent[number] = exchange_service.send(s, settings, request, pdf, actor="test")
            s.expunge(sent[number])
        receive_all(settings)
    with session_scope(settings.database_url) as s:
        first, second = (s.scalar(select(Delivery).where(Delivery.exchange_id == sent[n].id)) for n in ("31", "32"))
        first_id, second_id = first.id, second.id
        first_number = first.inbox_document.code_number
    recipient = Browser(create_app(settings), "lacson.vanthu")
    inbox = recipient.text("/inbox")
    assert "Bản mới của" in inbox and f'href="/inbox/{first_id}"' in inbox
    detail = recipient.text(f"/inbox/{second_id}")
    assert "Bản mới của" in detail and f"{first_number}/UBND-VP" in detail
    assert "Đã có bản cập nhật" in recipient.text(f"/inbox/{first_id}")
