"""POST /api/v1/verify and the public page /verify, through the app factory."""

from __future__ import annotations

import pytest

from docsign.config import load_settings
from docsign.pki.trust import default_trust_store
from tests.unit.verification import conftest as verification_fixtures

kit = verification_fixtures.kit
docs = verification_fixtures.docs


def make_app(tmp_path, test_pki, **env: str):  # type: ignore[no-untyped-def]
    """The app factory on a fresh data dir that trusts the test PKI's root; ``env``: more DOCSIGN_* settings."""
    from asn1crypto import pem

    from docsign.web import verify
    from docsign.web.app import create_app

    settings = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
                              "DOCSIGN_MAX_UPLOAD_MB": "1", **{f"DOCSIGN_{k}": v for k, v in env.items()}})
    root = tmp_path / "root.pem"
    root.write_bytes(test_pki.store.authorities["root"].cert.public_bytes(__import__(
        "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM))
    assert pem.detect(root.read_bytes())
    default_trust_store(settings).add(root)
    from docsign import migrations

    migrations.upgrade(settings.database_url)  # the rate limits count in the install's database
    app = create_app(settings, {"TESTING": True})
    if "verify" not in app.blueprints:
        app.register_blueprint(verify.bp)
    return app


@pytest.fixture
def app(tmp_path, test_pki):  # type: ignore[no-untyped-def]
    return make_app(tmp_path, test_pki)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def test_multipart_upload_returns_the_report(client, docs):  # type: ignore[no-untyped-def]
    import io

    response = client.post("/api/v1/verify", data={"file": (io.BytesIO(docs.b_lt), "doc.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["indication"] == "TOTAL_PASSED"
    assert body["signatures"][0]["signer"]["common_name"] == "Nguyen Van A"


def test_raw_pdf_body(client, docs):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/verify", data=docs.b_b, content_type="application/pdf")
    assert response.status_code == 200
    assert response.get_json()["signatures"][0]["level"] == "PAdES-B-B"


def test_tampered_document_is_a_200_report_not_an_error(client, docs):  # type: ignore[no-untyped-def]
    broken = bytearray(docs.b_b)
    broken[broken.index(b"page 1")] ^= 1
    body = client.post("/api/v1/verify", data=bytes(broken), content_type="application/pdf").get_json()
    assert (body["indication"], body["signatures"][0]["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")


@pytest.mark.parametrize(("data", "content_type", "status"), [
    (b"", "application/pdf", 400),
    (b"hello", "application/pdf", 415),
    (b"%PDF-1.7\n garbage", "application/pdf", 400),
    (b"{}", "application/json", 415),
    (b"%PDF-" + b"0" * (2 * 1024 * 1024), "application/pdf", 413),
])
def test_errors_are_problem_json(client, data, content_type, status):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/verify", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]


def test_multipart_without_file_is_400(client):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/verify", data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_page_is_vietnamese_first_with_english_switch(client):  # type: ignore[no-untyped-def]
    page = client.get("/verify").get_data(as_text=True)
    assert "Kiểm tra" in page and 'enctype="multipart/form-data"' in page
    assert "Check a digitally signed document" in client.get("/verify?lang=en").get_data(as_text=True)


def test_page_shows_one_verdict_per_signature(client, docs):  # type: ignore[no-untyped-def]
    import io

    response = client.post("/verify", data={"file": (io.BytesIO(docs.two), "two.pdf")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count('class="verdict green"') == 2
    assert "Nguyen Van A" in page and "So Thong tin va Truyen thong" in page and "<details>" in page


def test_page_shows_red_for_a_broken_signature_and_keeps_nothing(client, docs, app):  # type: ignore[no-untyped-def]
    import io

    before = sorted(p.name for p in app.extensions["docsign.settings"].data_dir.rglob("*"))
    broken = bytearray(docs.b_b)
    broken[broken.index(b"page 1")] ^= 1
    page = client.post("/verify?lang=en", data={"file": (io.BytesIO(bytes(broken)), "x.pdf")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert 'class="verdict red"' in page and "Invalid signature" in page
    after = sorted(p.name for p in app.extensions["docsign.settings"].data_dir.rglob("*"))
    assert before == after, "an anonymous upload must not be stored"


def test_page_error_for_non_pdf(client):  # type: ignore[no-untyped-def]
    import io

    response = client.post("/verify", data={"file": (io.BytesIO(b"hello"), "x.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 415 and 'role="alert"' in response.get_data(as_text=True)
