import re

import pytest

from docsign.web.app import create_app

pytestmark = pytest.mark.backend


@pytest.fixture
def app(demo):  # type: ignore[no-untyped-def]
    return create_app(demo)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_landing_speaks_vietnamese_first_and_english_on_request(client):
    vi = client.get("/").get_data(as_text=True)
    assert "Kiểm tra văn bản" in vi and 'lang="vi"' in vi
    en = client.get("/?lang=en").get_data(as_text=True)
    assert "Check a document" in en and 'lang="en"' in en
    assert "Check a document" in client.get("/").get_data(as_text=True)  # the choice is remembered


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_login_needs_csrf_and_the_right_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"login": "tinh.vanthu", "password": "docsign-demo"}).status_code == 400
    wrong = client.post("/login", data={"login": "tinh.vanthu", "password": "nope", "csrf_token": _csrf(page)})
    assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    ok = client.post("/login", data={"login": "tinh.vanthu", "password": "docsign-demo", "csrf_token": _csrf(page)})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/dashboard")
    dash = client.get("/dashboard").get_data(as_text=True)
    assert "Lê Thị Hoa" in dash and "000.00.00.H30" in dash and "(+07:00)" in dash


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_open_redirects_are_refused(client):
    page = client.get("/login").get_data(as_text=True)
    resp = client.post("/login?next=//evil.example/x", data={"login": "tinh.vanthu", "password": "docsign-demo",
                                                              "csrf_token": _csrf(page)})
    assert resp.headers["Location"].endswith("/dashboard")


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_dashboard_requires_login(client):
    resp = client.get("/dashboard")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_healthz_reports_every_part(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200, resp.json
    assert {k: v["ok"] for k, v in resp.json["checks"].items()} == {
        "database": True, "broker": True, "blob_store": True, "keys": True}


@pytest.mark.embedded_only
def test_healthz_is_503_when_the_broker_is_down(demo):
    from dataclasses import replace

    app = create_app(replace(demo, broker_url="redis://127.0.0.1:9/0"))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.json["checks"]["broker"]["ok"] is False and resp.json["checks"]["database"]["ok"] is True


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_api_errors_are_problem_json(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert resp.json["status"] == 404


@pytest.mark.embedded_only  # the web layer's behaviour: the same on every backend
def test_demo_pki_services_are_served(client):
    from cryptography import x509

    crl = client.get("/pki/crl/issuing.crl")
    assert crl.status_code == 200 and crl.mimetype == "application/pkix-crl"
    x509.load_der_x509_crl(crl.data)
    root = client.get("/pki/ca/root.crt")
    assert x509.load_der_x509_certificate(root.data).subject == x509.load_der_x509_certificate(root.data).issuer
    assert client.get("/pki/ca/nope.crt").status_code == 404
    assert client.post("/pki/tsa", data=b"garbage", content_type="application/timestamp-query").status_code == 400
