"""The agency API with bearer tokens: sending, inbox, statuses, and the line between agencies."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from docsign.accounts import create_token
from docsign.db import session_scope
from docsign.exchange import edxml
from docsign.exchange import service as svc
from docsign.models import ApiToken, utcnow
from docsign.web.app import create_app
from tests.support.documents import sealed_pdf

pytestmark = pytest.mark.backend
PROVINCE, DEPT, LAC_SON = "000.00.00.H30", "000.00.16.H30", "000.00.35.H30"


@pytest.fixture
def api(demo_online):  # type: ignore[no-untyped-def]
    tokens = {}
    with session_scope(demo_online.database_url) as s:
        for code in (PROVINCE, DEPT, LAC_SON):
            tokens[code] = create_token(s, code, "dms")[1]
    client = create_app(demo_online).test_client()

    def call(method, path, code=PROVINCE, **kw):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {tokens[code]}"} if code else {}
        return client.open(path, method=method, headers=headers, **kw)

    call.settings = demo_online
    call.tokens = tokens
    return call


def _send(api, pdf: bytes, to: str = f"{LAC_SON},{DEPT}"):  # type: ignore[no-untyped-def]
    return api("POST", "/api/v1/exchanges", data={"file": (io.BytesIO(pdf), "cv.pdf"), "to": to,
                                                   "subject": "Về việc thử API", "notation": "UBND-VP",
                                                   "due_date": "2030-03-01", "steering_type": "2",
                                                   "to_place": ["Như trên;", "Lưu: VT."], "content": "Nội dung"})


@pytest.fixture
def sealed(api, tmp_path):  # type: ignore[no-untyped-def]
    return sealed_pdf(api.settings, PROVINCE, tmp_path / "d", seal_only=True).read_bytes()


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_tokens_are_required_and_checked(api):
    no_token = api("GET", "/api/v1/agencies", code=None)
    assert no_token.status_code == 401 and no_token.mimetype == "application/problem+json"
    assert "Bearer" in no_token.json["detail"]
    client = create_app(api.settings).test_client()
    assert client.get("/api/v1/agencies", headers={"Authorization": "Bearer dsk_nope"}).status_code == 401
    assert api("GET", "/api/v1/agencies").json[0]["code"] == PROVINCE
    with session_scope(api.settings.database_url) as s:
        for row in s.scalars(select(ApiToken)):
            row.revoked_at = utcnow()
    assert api("GET", "/api/v1/agencies").status_code == 401


def test_send_inbox_document_and_status(api, sealed):
    sent = _send(api, sealed)
    assert sent.status_code == 201, sent.json
    exchange_id = sent.json["id"]
    deliveries = {d["recipient"]["code"]: d["id"] for d in sent.json["deliveries"]}
    header = edxml.parse_document_packet(api("GET", f"/api/v1/exchanges/{exchange_id}/packet").data).message_header
    assert (str(header.due_date), header.steering_type, header.to_places, header.content) == (
        "2030-03-01", 2, ("Như trên;", "Lưu: VT."), "Nội dung")
    with session_scope(api.settings.database_url) as s:
        svc.receive(s, api.settings, deliveries[LAC_SON])
    inbox = api("GET", "/api/v1/inbox", code=LAC_SON).json
    assert [(i["exchange_id"], i["state"]) for i in inbox] == [(exchange_id, "delivered")]
    pdf = api("GET", f"/api/v1/deliveries/{deliveries[LAC_SON]}/document", code=LAC_SON)
    assert pdf.status_code == 200 and pdf.data == sealed
    accepted = api("POST", f"/api/v1/deliveries/{deliveries[LAC_SON]}/status", code=LAC_SON, json={"code": "03"})
    assert accepted.status_code == 201 and accepted.json["state"] == "accepted"
    wrong = api("POST", f"/api/v1/deliveries/{deliveries[LAC_SON]}/status", code=LAC_SON, json={"code": "01"})
    assert wrong.status_code == 409 and wrong.mimetype == "application/problem+json"
    history = api("GET", f"/api/v1/exchanges/{exchange_id}").json["deliveries"]
    assert [e["code"] for e in history[0]["history"]] == [None, "01", "03"]
    packet = api("GET", f"/api/v1/exchanges/{exchange_id}/packet")
    assert edxml.parse_document_packet(packet.data).attachments[0].data == sealed


def test_agencies_cannot_cross_the_line(api, sealed):
    sent = _send(api, sealed, to=LAC_SON)
    exchange_id, delivery_id = sent.json["id"], sent.json["deliveries"][0]["id"]
    with session_scope(api.settings.database_url) as s:
        svc.receive(s, api.settings, delivery_id)
    # The Department is neither sender nor recipient: it sees nothing and can do nothing.
    for method, path, kw in [
        ("GET", f"/api/v1/exchanges/{exchange_id}", {}),
        ("GET", f"/api/v1/exchanges/{exchange_id}/packet", {}),
        ("GET", f"/api/v1/deliveries/{delivery_id}/document", {}),
        ("POST", f"/api/v1/deliveries/{delivery_id}/status", {"json": {"code": "03"}}),
    ]:
        assert api(method, path, code=DEPT, **kw).status_code == 404, path
    assert api("GET", "/api/v1/inbox", code=DEPT).json == []
    # The sender sees the exchange but not the recipient's copy of the document.
    assert api("GET", f"/api/v1/deliveries/{delivery_id}/document").status_code == 404
    # One agency cannot send in another's name: the sender is always the token's agency.
    forged = api(
        "POST", "/api/v1/exchanges", code=DEPT,
        data={"file": (io.BytesIO(sealed), "cv.pdf"), "to": LAC_SON, "subject": "giả mạo"})
    assert forged.status_code == 400 and "no signature belongs to the sending agency" in forged.json["detail"]


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_bad_uploads_are_clear_problems(api):
    not_pdf = api("POST", "/api/v1/exchanges", data={"file": (io.BytesIO(b"hello"), "x.pdf"), "to": LAC_SON,
                                                      "subject": "x"})
    assert not_pdf.status_code == 415
    missing = api("POST", "/api/v1/exchanges", data={"to": LAC_SON, "subject": "x"})
    assert missing.status_code == 400 and "multipart field 'file'" in missing.json["detail"]
    status = api("POST", "/api/v1/deliveries/1/status", data="03")
    assert status.status_code == 400


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_openapi_lists_the_api(api):
    spec = api("GET", "/api/v1/openapi.json", code=None).json
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/exchanges", "/api/v1/inbox", "/api/v1/verify"} <= set(spec["paths"])
