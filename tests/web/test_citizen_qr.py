"""One-stop-shop results citizens can check (issue 14 item 3): the QR code printed in the seal, decoded from
the rendered page, opens the public page of the document; public and non-public documents; an unknown
token and a forbidden download answer alike; the citizen's copy compared with the issued revision."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import select

from docsign.db import session_scope
from docsign.documents import citizen
from docsign.models import AuditEvent, Document, User
from docsign.web.app import create_app
from tests.support.backends import provision
from tests.support.demo import online_demo
from tests.unit.signing.pdfgen import make_pdf

pytestmark = pytest.mark.embedded_only


def actor(settings, login: str):  # type: ignore[no-untyped-def]
    from docsign.documents import service as ds

    with session_scope(settings.database_url) as s:
        u = s.scalar(select(User).where(User.login == login))
        return ds.Actor(u.id, u.login, u.full_name, u.role.value, u.agency_id, u.agency.code, u.position)


def issue_result(settings, pdf: bytes, title: str, *, citizen_result: bool = True) -> int:  # type: ignore[no-untyped-def]
    """Upload, approve and issue as the province's clerk and leader; the id of the document."""
    from docsign.documents import service as ds

    clerk, leader = actor(settings, "tinh.vanthu"), actor(settings, "tinh.lanhdao")
    with session_scope(settings.database_url) as s:
        document_id = ds.upload_document(s, settings, clerk, io.BytesIO(pdf), title=title, notation="UBND-MC").id
    with session_scope(settings.database_url) as s:
        ds.approve_document(s, settings, leader, document_id, level="B-B")
    with session_scope(settings.database_url) as s:
        ds.issue_document(s, settings, clerk, document_id, number=ds.suggest_number(s, clerk), notation="UBND-MC",
                          level="B-B", citizen_result=citizen_result)
    return document_id


def stored(settings, document_id: int) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        document = s.get(Document, document_id)
        data = citizen.issued_bytes(settings, document)
        return SimpleNamespace(token=document.citizen_token, public=document.citizen_public, pdf=data,
                               sha256=citizen.issued_revision(document).sha256)


def decode_qr_from_pdf(pdf: bytes, tmp: Path) -> list[str]:
    """Render page 1 with poppler and read every QR code on it with ZXing (as a phone would)."""
    import zxingcpp

    source = tmp / "issued.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-f", "1", "-l", "1", "-png", str(source), str(tmp / "page")],
                   check=True, timeout=60)
    image = Image.open(next(tmp.glob("page*.png")))
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def with_document_timestamp(pdf: bytes, tsa_url: str) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers, timestamps

    out = io.BytesIO()
    signers.PdfTimeStamper(timestamps.HTTPTimeStamper(tsa_url, timeout=10)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), md_algorithm="sha256", output=out)
    assert out.getvalue().startswith(pdf)
    return out.getvalue()


def with_content_added(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.generic import StreamObject
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.add_stream_to_page(0, writer.add_object(StreamObject(stream_data=b"0 0 1 rg 50 50 200 80 re f")))
    out = io.BytesIO()
    writer.write(out)
    assert out.getvalue().startswith(pdf)
    return out.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("citizen")
    with provision("embedded", tmp) as backend, online_demo(tmp, backend) as settings:
        pdf = make_pdf(tmp / "draft.pdf", notation="UBND-MC").read_bytes()
        ids = {"result": issue_result(settings, pdf, "Giấy chứng nhận quyền sử dụng đất"),
               "plain": issue_result(settings, make_pdf(tmp / "other.pdf", 2, notation="UBND-MC").read_bytes(),
                                     "Công văn thường", citizen_result=False)}
        yield SimpleNamespace(settings=settings, app=create_app(settings), ids=ids, tmp=tmp)


def test_the_qr_in_the_seal_decodes_to_the_public_page_which_verifies_the_document(world, tmp_path):
    settings = world.settings
    result = stored(settings, world.ids["result"])
    assert result.token and len(result.token) >= 43, "256 random bits, URL-safe"
    urls = decode_qr_from_pdf(result.pdf, tmp_path)
    assert urls == [f"{settings.public_url}/verify/d/{result.token}"]
    (tmp_path / "plain").mkdir()
    assert decode_qr_from_pdf(stored(settings, world.ids["plain"]).pdf, tmp_path / "plain") == [], \
        "an ordinary issue has no QR code"

    resp = world.app.test_client().get(urlsplit(urls[0]).path)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Kết quả một cửa" in page and "Ủy ban nhân dân tỉnh Hòa Bình" in page
    assert "(+07:00)" in page and result.sha256 in page
    assert page.count('class="verdict green"') == 2, "the leader's signature and the seal verify"
    assert 'id="download-pdf"' not in page, "not public: no download"
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    english = world.app.test_client().get(urlsplit(urls[0]).path + "?lang=en").get_data(as_text=True)
    assert "One-stop-shop result" in english and "Issued by" in english


def test_the_pdf_is_downloadable_only_when_the_agency_made_it_public(world):
    from docsign.documents import service as ds

    settings, document_id = world.settings, world.ids["result"]
    result = stored(settings, document_id)
    client = world.app.test_client()
    path = f"/verify/d/{result.token}/pdf"
    assert client.get(path).status_code == 404
    clerk = actor(settings, "tinh.vanthu")
    with session_scope(settings.database_url) as s:
        ds.set_citizen_public(s, clerk, document_id, True)
    try:
        assert 'id="download-pdf"' in client.get(f"/verify/d/{result.token}").get_data(as_text=True)
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "application/pdf" and resp.data == result.pdf
    finally:
        with session_scope(settings.database_url) as s:
            ds.set_citizen_public(s, clerk, document_id, False)
    assert client.get(path).status_code == 404
    with session_scope(settings.database_url) as s:
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "document.citizen_public")).all() \
            == ["document.citizen_public"] * 2
    # only the clerk of the issuing agency may, and only for a one-stop-shop result
    from docsign.errors import Conflict, NotFound, PermissionDenied

    with session_scope(settings.database_url) as s, pytest.raises(PermissionDenied):
        ds.set_citizen_public(s, actor(settings, "tinh.lanhdao"), document_id, True)
    with session_scope(settings.database_url) as s, pytest.raises(NotFound):
        ds.set_citizen_public(s, actor(settings, "lacson.vanthu"), document_id, True)
    with session_scope(settings.database_url) as s, pytest.raises(Conflict, match="one-stop-shop"):
        ds.set_citizen_public(s, clerk, world.ids["plain"], True)


def test_an_unknown_token_and_a_non_public_download_get_the_same_answer(world):
    result = stored(world.settings, world.ids["result"])
    client = world.app.test_client()
    answers = {}
    for name, path in {
        "not public": f"/verify/d/{result.token}/pdf",
        "no such token": f"/verify/d/{citizen.new_token()}/pdf",
        "no such page": f"/verify/d/{citizen.new_token()}",
        "garbage": "/verify/d/%27%3B--",
        "near miss": f"/verify/d/{result.token[:-1]}{'A' if result.token[-1] != 'A' else 'B'}",
    }.items():
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            resp = client.get(path)
            timings.append(time.perf_counter() - started)
        answers[name] = (resp.status_code, resp.get_data(), sorted(timings)[2])
    bodies = {(status, body) for status, body, _ in answers.values()}
    assert len(bodies) == 1, "one status and one body for every miss"
    status, body = bodies.pop()
    assert status == 404 and b"There is no public document for this code" in body
    assert result.token.encode() not in body
    medians = [median for *_, median in answers.values()]
    assert max(medians) < 10 * min(medians) + 0.02, answers  # no slow path that tells them apart


def test_the_citizens_copy_is_compared_with_the_issued_revision(world):
    settings = world.settings
    result = stored(settings, world.ids["result"])
    client = world.app.test_client()
    path = f"/verify/d/{result.token}"

    def upload(data: bytes) -> tuple[int, str]:
        resp = client.post(path, data={"file": (io.BytesIO(data), "ban-cua-toi.pdf")},
                           content_type="multipart/form-data")
        return resp.status_code, resp.get_data(as_text=True)

    status, page = upload(result.pdf)
    assert status == 200 and "Đúng là văn bản đã ban hành" in page
    assert 'class="verdict green" role="status" id="comparison"' in page
    # the issued bytes with a document timestamp added (evidence extended, by anyone): the same document
    status, page = upload(with_document_timestamp(result.pdf, settings.tsa_url))
    assert status == 200 and "chỉ được bổ sung dấu thời gian" in page.split('id="comparison"')[1]
    # the issued bytes with a page's content changed in an incremental update: the prefix is not enough
    status, page = upload(with_content_added(result.pdf))
    assert status == 200 and "Không phải văn bản đã ban hành" in page
    # the other result of the same agency, validly signed, is not this document
    other = stored(settings, world.ids["plain"]).pdf
    status, page = upload(other)
    assert status == 200 and "Không phải văn bản đã ban hành" in page
    assert page.split('id="copy-verdict"')[1].count('class="verdict green"') == 2, "yet its own signatures verify"
    # one byte changed inside the signed range: not the same, and its verification fails
    tampered = bytearray(result.pdf)
    at = tampered.index(b"BT", 200)
    tampered[at + 1:at + 2] = b"X" if tampered[at + 1:at + 2] != b"X" else b"Y"
    status, page = upload(bytes(tampered))
    assert status == 200 and "Không phải văn bản đã ban hành" in page
    assert 'class="verdict red"' in page.split('id="copy-verdict"')[1]
    # not a PDF, empty: one clear line, nothing kept
    status, page = upload(b"hello")
    assert status == 200 and "Không phải văn bản đã ban hành" in page and "Không đọc được tệp" in page
    status, page = upload(b"")
    assert status == 400 and "The file is empty" in page


def test_the_citizens_page_is_rate_limited_like_the_public_verifier(world):
    settings = dataclasses.replace(world.settings, verify_rate=(2, 3600))
    client = create_app(settings).test_client()
    result = stored(settings, world.ids["result"])
    paths = [f"/verify/d/{citizen.new_token()}/pdf", f"/verify/d/{result.token}/pdf", f"/verify/d/{result.token}"]
    statuses = [client.get(p).status_code for p in paths]
    assert statuses == [404, 404, 429]
    last = client.get(paths[0])
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0


def test_the_cli_shows_the_page_and_sets_the_public_flag(world):
    from tests.conftest import run_cli

    settings = world.settings
    env = {**__import__("os").environ, "DOCSIGN_DATA_DIR": str(settings.data_dir),
           "DOCSIGN_KEYS_DIR": str(settings.keys_dir), "DOCSIGN_DATABASE_URL": settings.database_url,
           "DOCSIGN_BROKER_URL": settings.broker_url, "DOCSIGN_PUBLIC_URL": settings.public_url}
    document_id = world.ids["result"]
    shown = run_cli("result", "show", str(document_id), "--agency", "000.00.00.H30", env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"{settings.public_url}/verify/d/{stored(settings, document_id).token}",
                                         "public: no"]
    assert run_cli("result", "public", str(document_id), "--agency", "000.00.00.H30", env=env).returncode == 0
    assert stored(settings, document_id).public is True
    assert run_cli("result", "public", str(document_id), "--agency", "000.00.00.H30", "--off", env=env).returncode == 0
    assert stored(settings, document_id).public is False
    other_agency = run_cli("result", "public", str(document_id), "--agency", "000.00.35.H30", env=env)
    assert other_agency.returncode != 0 and "does not exist in agency" in other_agency.stderr
    plain = run_cli("result", "show", str(world.ids["plain"]), "--agency", "000.00.00.H30", env=env)
    assert plain.returncode != 0 and "not a one-stop-shop result" in plain.stderr
