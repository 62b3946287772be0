"""A one-stop-shop result in a real browser: the clerk issues it with the QR option and makes it public;
a citizen opens the URL decoded from the QR printed in the seal, sees the verdict, the agency and the time,
downloads the PDF and checks the copy they hold."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.web.test_citizen_qr import actor, decode_qr_from_pdf, stored

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]


@pytest.fixture
def citizen_site(tmp_path, backend):  # type: ignore[no-untyped-def]
    """The web app on the port of DOCSIGN_PUBLIC_URL (it serves the demo PKI there, as `docsign run` does),
    with an approved draft waiting for the clerk."""
    from types import SimpleNamespace

    from docsign import migrations
    from docsign.config import load_settings, prepare_data_dir
    from docsign.db import session_scope
    from docsign.demo import seed_demo
    from docsign.documents import service as ds
    from docsign.web.app import create_app
    from tests.support.pki_server import free_port
    from tests.unit.signing.pdfgen import make_pdf

    port = free_port()
    settings = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
                              "DOCSIGN_DATABASE_URL": backend.database, "DOCSIGN_BROKER_URL": backend.broker,
                              "DOCSIGN_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    prepare_data_dir(settings)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        seed_demo(session, settings)
    server = make_server("127.0.0.1", port, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def draft_and_approve() -> int:
            pdf = make_pdf(tmp_path / "draft.pdf", notation="UBND-MC").read_bytes()
            with session_scope(settings.database_url) as s:
                document_id = ds.upload_document(s, settings, actor(settings, "tinh.vanthu"), io.BytesIO(pdf),
                                                 title="Giấy phép xây dựng nhà ở riêng lẻ", notation="UBND-MC").id
            with session_scope(settings.database_url) as s:
                ds.approve_document(s, settings, actor(settings, "tinh.lanhdao"), document_id, level="B-T")
            return document_id

        # on another thread: Playwright's event loop runs on this one, and signing calls asyncio.run
        with ThreadPoolExecutor(1) as pool:
            document_id = pool.submit(draft_and_approve).result()
        yield SimpleNamespace(url=settings.public_url, settings=settings, document_id=document_id)
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_citizen_checks_a_one_stop_shop_result_from_its_qr_code(browser, citizen_site, tmp_path):
    from docsign.db import session_scope
    from docsign.models import Document

    site = citizen_site
    clerk = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh").new_page()
    clerk.goto(site.url + "/login")
    clerk.get_by_label("Tên đăng nhập").fill("tinh.vanthu")
    clerk.get_by_label("Mật khẩu").fill("docsign-demo")
    clerk.get_by_role("button", name="Đăng nhập").click()
    clerk.wait_for_url("**/dashboard")
    clerk.goto(f"{site.url}/documents/{site.document_id}")
    clerk.locator("#citizen-result").check()
    clerk.get_by_role("button", name="Ký phát hành").click()
    clerk.wait_for_selector("#citizen-link")
    with session_scope(site.settings.database_url) as s:
        token = s.scalar(select(Document.citizen_token).where(Document.id == site.document_id))
    assert clerk.locator("#citizen-link").inner_text() == f"{site.url}/verify/d/{token}"
    clerk.locator("#citizen-public-toggle").click()
    clerk.wait_for_selector("text=Công dân có thể tải văn bản từ trang tra cứu.")

    issued = stored(site.settings, site.document_id)
    urls = decode_qr_from_pdf(issued.pdf, tmp_path)
    assert urls == [f"{site.url}/verify/d/{token}"]

    citizen_context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", accept_downloads=True)
    citizen = citizen_context.new_page()  # not logged in
    citizen.goto(urls[0])
    assert urlsplit(citizen.url).path == f"/verify/d/{token}"
    assert citizen.get_by_role("heading", name="Kết quả một cửa").is_visible()
    assert citizen.locator("#issuing-agency").inner_text() == "Ủy ban nhân dân tỉnh Hòa Bình"
    assert citizen.locator("#issued-at").inner_text().endswith("(+07:00)")
    assert citizen.locator("article.verdict.green").count() == 2
    with citizen.expect_download() as download_info:
        citizen.locator("#download-pdf").click()
    downloaded = tmp_path / "downloaded.pdf"
    download_info.value.save_as(downloaded)
    assert downloaded.read_bytes() == issued.pdf

    citizen.locator("#file").set_input_files(str(downloaded))
    citizen.get_by_role("button", name="Đối chiếu").click()
    citizen.wait_for_selector("#comparison")
    assert "Đúng là văn bản đã ban hành" in citizen.locator("#comparison").inner_text()
    citizen.screenshot(path=str(tmp_path / "citizen.png"), full_page=True)
    citizen_context.close()
