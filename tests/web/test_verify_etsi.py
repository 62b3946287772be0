"""The ETSI TS 119 102-2 XML report over HTTP: ?format=etsi, Accept negotiation, and the page's button."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from tests.unit.verification import conftest as verification_fixtures
from tests.web.test_verify_api import make_app

kit = verification_fixtures.kit
docs = verification_fixtures.docs
VR = "http://uri.etsi.org/19102/v1.2.1#"
ETSI_TYPE = "application/vnd.etsi.validation-report+xml"


@pytest.fixture
def client(tmp_path, test_pki):  # type: ignore[no-untyped-def]
    return make_app(tmp_path, test_pki).test_client()


def main_indications(xml: bytes) -> list[str]:
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    assert root.tag == f"{{{VR}}}ValidationReport"
    return [el.text for el in root.iterfind(f"{{{VR}}}SignatureValidationReport/{{{VR}}}SignatureValidationStatus/"
                                            f"{{{VR}}}MainIndication")]


@pytest.mark.parametrize(("query", "accept", "media_type"), [
    ("?format=etsi", None, ETSI_TYPE),
    ("", ETSI_TYPE, ETSI_TYPE),
    ("", "application/xml", "application/xml"),
    ("", "application/json;q=0.5, application/xml", "application/xml"),
])
def test_api_gives_the_xml_report_when_asked(client, docs, query, accept, media_type):  # type: ignore[no-untyped-def]
    headers = {"Accept": accept} if accept else {}
    response = client.post(f"/api/v1/verify{query}", data=docs.two, content_type="application/pdf", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == media_type
    assert "attachment" in response.headers["Content-Disposition"]
    assert main_indications(response.data) == ["urn:etsi:019102:mainindication:total-passed"] * 2


@pytest.mark.parametrize(("query", "accept"), [("", None), ("", "*/*"), ("?format=json", ETSI_TYPE)])
def test_api_stays_json_by_default(client, docs, query, accept):  # type: ignore[no-untyped-def]
    headers = {"Accept": accept} if accept else {}
    response = client.post(f"/api/v1/verify{query}", data=docs.b_lt, content_type="application/pdf", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["indication"] == "TOTAL_PASSED"


def test_api_xml_for_a_broken_signature_is_total_failed(client, docs):  # type: ignore[no-untyped-def]
    broken = bytearray(docs.b_b)
    broken[broken.index(b"page 1")] ^= 1
    response = client.post("/api/v1/verify?format=etsi", data=bytes(broken), content_type="application/pdf")
    assert main_indications(response.data) == ["urn:etsi:019102:mainindication:total-failed"]


@pytest.mark.parametrize(("query", "data", "status"), [("?format=pdf", None, 400), ("?format=etsi", "plain", 400),
                                                       ("?format=etsi", b"hello", 415)])
def test_api_xml_errors_are_problem_json(client, docs, query, data, status):  # type: ignore[no-untyped-def]
    body = getattr(docs, data) if isinstance(data, str) else (data or docs.b_lt)
    response = client.post(f"/api/v1/verify{query}", data=body, content_type="application/pdf")
    assert response.status_code == status and response.mimetype == "application/problem+json"


def test_page_button_downloads_the_xml_from_the_same_post(client, docs):  # type: ignore[no-untyped-def]
    page = client.get("/verify").get_data(as_text=True)
    assert 'name="format" value="etsi"' in page
    response = client.post("/verify", data={"file": (io.BytesIO(docs.b_lt), "doc.pdf"), "format": "etsi"},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.mimetype == ETSI_TYPE
    assert "attachment" in response.headers["Content-Disposition"]
    assert main_indications(response.data) == ["urn:etsi:019102:mainindication:total-passed"]


def test_page_result_offers_both_downloads(client, docs):  # type: ignore[no-untyped-def]
    import base64
    import re

    page = client.post("/verify", data={"file": (io.BytesIO(docs.b_lt), "doc.pdf")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert 'class="verdict green"' in page
    link = re.search(r'href="data:application/vnd\.etsi\.validation-report\+xml;base64,([^"]+)"', page)
    assert link is not None
    assert main_indications(base64.b64decode(link.group(1))) == ["urn:etsi:019102:mainindication:total-passed"]
