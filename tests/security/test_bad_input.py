"""Item 12: bad input is a 4xx with a clear message and leaves nothing behind, through the agency API and
the web forms alike (one validation, docsign/validation.py).

Attacks, and what they did before: /api/v1/inbox?limit=abc (500) and limit=-1 (no limit); a status with
"staff" as an object (500) or 5,000 characters (into a 100-character column); an API send with number
../../x or a notation the web form refuses (accepted); a title with control characters at upload (accepted,
then the document could never be sent); a deeply nested PDF on approve (500, RecursionError).
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from docsign.accounts import create_token
from docsign.db import session_scope
from docsign.exchange import service as exchange_service
from docsign.models import Document, Exchange, StatusEvent
from docsign.web.app import create_app
from tests.security.conftest import csrf_of, log_in
from tests.support.documents import sealed_pdf
from tests.unit.signing.pdfgen import make_pdf
from tests.unit.verification.pdfs import raw_pdf

PROVINCE, LAC_SON = "000.00.00.H30", "000.00.35.H30"


def _count(settings, model) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_the_agency_api_answers_bad_input_with_400(demo_online, tmp_path):  # type: ignore[no-untyped-def]
    settings = demo_online
    with session_scope(settings.database_url) as s:
        tokens = {code: create_token(s, code, "dms")[1] for code in (PROVINCE, LAC_SON)}
    client = create_app(settings).test_client()

    def call(method, path, code=PROVINCE, **kw):  # type: ignore[no-untyped-def]
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[code]}"}, **kw)

    def refused(response, field: str) -> None:  # type: ignore[no-untyped-def]
        assert response.status_code == 400, (field, response.status_code, response.get_data(as_text=True)[:300])
        assert response.mimetype == "application/problem+json" and field in response.json["detail"], response.json

    # query parameters
    for limit in ("abc", "-1", "0", "501", "1e3", "１０", " 5 5"):
        refused(call("GET", f"/api/v1/inbox?limit={limit}", code=LAC_SON), "limit")
    assert call("GET", "/api/v1/inbox?limit=5", code=LAC_SON).status_code == 200

    # send: every field checked before the PDF is, by the rules of the web form
    sealed = sealed_pdf(settings, PROVINCE, tmp_path / "d", seal_only=True).read_bytes()

    def send(**fields: str):  # type: ignore[no-untyped-def]
        data = {"to": LAC_SON, "subject": "Về việc thử", "notation": "UBND-VP", **fields}
        return call("POST", "/api/v1/exchanges", data={"file": (io.BytesIO(sealed), "cv.pdf"), **data})

    for fields, named in [({"number": "../../x"}, "number"), ({"number": "-3"}, "number"), ({"number": "0"}, "number"),
                          ({"number": "١٢"}, "number"), ({"notation": "UBND/VP"}, "notation"),
                          ({"notation": "A B"}, "notation"), ({"notation": "../x"}, "notation"),
                          ({"notation": "X" * 31}, "notation"), ({"subject": "Về việc\x1b[31m thử"}, "subject"),
                          ({"subject": "Về việc\u202e thử"}, "subject"), ({"subject": "x" * 501}, "subject"),
                          ({"type_name": "C" * 5000}, "document type"), ({"type_name": "Công\x00văn"}, "document type"),
                          ({"priority": "9"}, "priority"), ({"priority": "x"}, "priority")]:
        refused(send(**fields), named)
    assert _count(settings, Exchange) == 0 and _count(settings, Document) == 0  # nothing left behind
    sent = send(number="7")
    assert sent.status_code == 201, sent.json
    delivery_id = sent.json["deliveries"][0]["id"]
    with session_scope(settings.database_url) as s:
        exchange_service.receive(s, settings, delivery_id)

    # status: staff and description must be short text
    events = _count(settings, StatusEvent)
    url = f"/api/v1/deliveries/{delivery_id}/status"
    for body, named in [({"code": "03", "staff": {"name": "x"}}, "staff"), ({"code": "03", "staff": ["x"]}, "staff"),
                        ({"code": "03", "staff": 12}, "staff"), ({"code": "03", "staff": "s" * 5000}, "staff"),
                        ({"code": "03", "staff": "Nguyễn\x07"}, "staff"),
                        ({"code": "03", "description": {"a": 1}}, "description"),
                        ({"code": "03", "description": "d" * 5000}, "description"), ({"code": 3}, "code"),
                        ({"code": ["03"]}, "code")]:
        refused(call("POST", url, code=LAC_SON, json=body), named)
    assert _count(settings, StatusEvent) == events
    accepted = call("POST", url, code=LAC_SON, json={"code": "03", "staff": "Nguyễn Văn A", "description": "Đã nhận"})
    assert accepted.status_code == 201, accepted.json


def _nested_pdf(depth: int) -> bytes:
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>",
                    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"])


def _form(client, path: str, data: dict, **kw):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf_of(client, "/dashboard"), **data}, **kw)


def test_the_web_forms_refuse_control_characters_and_survive_a_nested_pdf(demo, tmp_path):  # type: ignore[no-untyped-def]
    app = create_app(demo)
    clerk, leader = app.test_client(), app.test_client()
    assert log_in(clerk, "tinh.vanthu").status_code == 302 and log_in(leader, "tinh.lanhdao").status_code == 302
    pdf = make_pdf(tmp_path / "d.pdf").read_bytes()

    def upload(title: str, data: bytes = pdf, **more: str):  # type: ignore[no-untyped-def]
        return _form(clerk, "/documents/new", {"title": title, "notation": "UBND-VP", **more,
                                               "file": (io.BytesIO(data), "d.pdf")},
                     content_type="multipart/form-data")

    for title, more in [("Về việc\x07 thử", {}), ("Về việc\x00", {}), ("Về\u202eviệc", {}), ("Về\nviệc", {}),
                        ("Tiêu đề", {"document_type": "Công\x1bvăn"}), ("Tiêu đề", {"notation": "UBND/VP"})]:
        response = upload(title, **more)
        assert response.status_code == 400, (title, more, response.status_code)
    assert _count(demo, Document) == 0

    created = upload("Về việc thử văn bản lồng sâu", _nested_pdf(100_000))
    assert created.status_code == 303
    document_id = int(re.search(r"/documents/(\d+)", created.headers["Location"]).group(1))
    assert leader.get(f"/documents/{document_id}").status_code == 200
    approved = _form(leader, f"/documents/{document_id}/approve", {"revision": "1", "level": "B-B"})
    assert approved.status_code == 303, approved.status_code  # back to the document with the reason
    page = leader.get(approved.headers["Location"]).get_data(as_text=True)
    assert "nested too deeply" in page
    with session_scope(demo.database_url) as s:
        document = s.get(Document, document_id)
        assert document is not None and len(document.revisions) == 1  # nothing signed, nothing left behind


@pytest.mark.embedded_only
def test_one_rule_for_the_form_and_the_api() -> None:
    """The API's send request and the web's issue use the same checks (docsign.validation)."""
    from dataclasses import replace

    from docsign import validation
    from docsign.errors import InvalidInput

    request = exchange_service.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON,), subject="Về việc thử",
                                           code_number="5", code_notation="ubnd-vp")
    checked = request.validated()
    assert (checked.code_number, checked.code_notation) == (validation.document_number("5"),
                                                            validation.notation("ubnd-vp")) == ("05", "UBND-VP")
    for bad in ("UBND/VP", "A B", "x" * 31):
        with pytest.raises(InvalidInput):
            replace(request, code_notation=bad).validated()
        with pytest.raises(InvalidInput):
            validation.notation(bad)
