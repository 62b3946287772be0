"""Item 7: pages cannot be framed (clickjacking), content is not sniffed, documents are downloaded as
attachments with their own type.

Attack: embed the login page or a document in a frame of another site, have a browser sniff a served
file into HTML. Before, no response carried Content-Security-Policy, X-Content-Type-Options or
Referrer-Policy, and the API served delivered PDFs inline.
"""

from __future__ import annotations

import io

import pytest

from tests.security.conftest import log_in
from tests.unit.signing.pdfgen import make_pdf

pytestmark = pytest.mark.embedded_only


def _directives(header: str) -> dict[str, str]:
    return {part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/login", "/verify", "/healthz", "/api/v1/openapi.json", "/no-such-page",
                                  "/api/v1/inbox"])
def test_every_answer_carries_the_security_headers(app, path):  # type: ignore[no-untyped-def]
    response = app.test_client().get(path)
    csp = _directives(response.headers.get("Content-Security-Policy", ""))
    assert csp.get("frame-ancestors") == "'none'", response.headers
    assert csp.get("default-src") == "'self'" and csp.get("object-src") == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin-when-cross-origin"}


def test_a_document_is_downloaded_as_an_attachment_with_its_type(app, tmp_path):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert log_in(client).status_code == 302
    page = client.get("/documents/new").get_data(as_text=True)
    from tests.security.conftest import CSRF

    match = CSRF.search(page)
    token = match.group(1) or match.group(2)
    pdf = make_pdf(tmp_path / "d.pdf", 1).read_bytes()
    created = client.post("/documents/new", data={"csrf_token": token, "title": "Về việc thử tải về",
                                                  "file": (io.BytesIO(pdf), "<script>.html")},
                          content_type="multipart/form-data")
    assert created.status_code == 303, created.get_data(as_text=True)[:300]
    download = client.get(created.headers["Location"] + "/download")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert ".html" not in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_the_readme_gives_the_hsts_line_for_the_proxy() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "Strict-Transport-Security" in readme and "max-age=" in readme
