"""Issue 14.5: /metrics, request ids, and the admins' operations page with its re-drive button."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from docsign import logs
from docsign.db import session_scope
from docsign.exchange import service as exchange_service
from docsign.models import Agency, Delivery, Document, DocumentRevision, Exchange, OutboxMessage
from docsign.web.app import create_app

pytestmark = pytest.mark.embedded_only
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def app(demo):  # type: ignore[no-untyped-def]
    return create_app(demo)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def _login(client, login: str):  # type: ignore[no-untyped-def]
    page = client.get("/login").get_data(as_text=True)
    resp = client.post("/login", data={"login": login, "password": "docsign-demo", "csrf_token": _csrf(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def _dead_letter(settings) -> int:  # type: ignore[no-untyped-def]
    """A delivery from the admin's agency (the demo's first) that failed for good."""
    with session_scope(settings.database_url) as session:
        sender, recipient = session.scalars(select(Agency).order_by(Agency.id).limit(2)).all()
        document = Document(agency=sender, title="Thử gửi")
        revision = DocumentRevision(document=document, number=1, sha256="a" * 64, size=1, action="upload")
        exchange = Exchange(id="ex-dead-0001", document=document, revision=revision, sender=sender,
                            edxml_document_id=f"{sender.code},2026/12/01,1/UBND-VP", subject="Thử gửi")
        delivery = Delivery(exchange=exchange, recipient=recipient)
        session.add_all([exchange, delivery])
        session.flush()
        assert exchange_service.dead_letter(session, delivery.id, "broker unreachable")
        return delivery.id


def test_metrics_in_prometheus_format_for_the_machine_itself_and_admins(app, demo):  # type: ignore[no-untyped-def]
    _dead_letter(demo)
    client = app.test_client()
    client.get("/login")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'docsign_http_request_seconds_bucket{endpoint="ui.login",le="0.005",method="GET",status="200"}' in body \
        or 'docsign_http_request_seconds_count{endpoint="ui.login",method="GET",status="200"}' in body
    assert "# TYPE docsign_sign_seconds histogram" in body and "# TYPE docsign_verify_seconds histogram" in body
    assert 'docsign_deliveries{state="dead_letter"} 1.0' in body
    assert re.search(r'docsign_dead_letters\{agency="[^"]+"\} 1\.0', body)
    assert "docsign_queue_depth" in body and "docsign_task_retries_total" in body
    outsider = app.test_client()
    assert outsider.get("/metrics", environ_base=OUTSIDE).status_code == 404  # agencies' queues are not public
    _login(outsider, "admin")
    assert outsider.get("/metrics", environ_base=OUTSIDE).status_code == 200


def test_every_answer_has_a_request_id_and_a_forged_one_is_replaced(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/login").headers["X-Request-ID"])
    assert client.get("/login", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    forged = client.get("/login", headers={"X-Request-ID": "x\" {\"level\": \"CRITICAL\"}"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


def test_the_ops_page_is_for_admins_and_redrives_with_csrf(app, demo):  # type: ignore[no-untyped-def]
    delivery_id = _dead_letter(demo)
    clerk = app.test_client()
    _login(clerk, "tinh.vanthu")
    assert clerk.get("/admin/ops").status_code == 403
    assert clerk.post("/admin/ops/redrive", data={"csrf_token": _csrf(clerk.get("/dashboard").get_data(as_text=True))
                                                   }).status_code == 403
    admin = app.test_client()
    _login(admin, "admin")
    page = admin.get("/admin/ops").get_data(as_text=True)
    assert "Gửi không thành công" in page and "broker unreachable" in page and "Thử gửi" in page
    assert "Operations" in admin.get("/admin/ops?lang=en").get_data(as_text=True)
    admin.get("/admin/ops?lang=vi")
    assert admin.post("/admin/ops/redrive", data={"delivery_id": str(delivery_id)}).status_code == 400  # no CSRF
    done = admin.post("/admin/ops/redrive", data={"delivery_id": str(delivery_id), "csrf_token": _csrf(page)},
                      headers={"X-Request-ID": "redrive-1"})
    assert done.status_code == 302
    with session_scope(demo.database_url) as session:
        assert session.get(Delivery, delivery_id).state == "queued"
        row = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)).one()
        assert row.payload[exchange_service.REQUEST_ID_KEY] == "redrive-1"  # the relay sends it on as a header
        published: list[tuple[object, ...]] = []
        exchange_service.publish_outbox(session, lambda *message: published.append(message))
    assert published == [(exchange_service.DELIVER_TASK, row.queue, {"delivery_ids": [delivery_id]}, "redrive-1")]
    assert logs.current_request_id() is None  # nothing leaks past the request
