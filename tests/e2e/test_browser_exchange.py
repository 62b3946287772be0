"""A document goes from the province to Lạc Sơn district in a real browser, as after `make run`:
upload, the leader's approval, the clerk's issue and send, arrival through a real worker process and the
outbox relay, the recipient's check, download and acceptance (03), and the sender seeing it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.unit.signing.pdfgen import make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]

SUBJECT = "Về việc thử nghiệm trao đổi văn bản điện tử"
LACSON = "000.00.35.H30"


@pytest.fixture
def person(browser, exchange_site):  # type: ignore[no-untyped-def]
    """``person(login)``: a browser window of its own, logged in (Vietnamese, Vietnam's time zone)."""
    contexts = []

    def open_as(login: str):  # type: ignore[no-untyped-def]
        context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", accept_downloads=True,
                                      viewport={"width": 1200, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(exchange_site.url + "/login")
        page.get_by_label("Tên đăng nhập").fill(login)
        page.get_by_label("Mật khẩu").fill("docsign-demo")
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url("**/dashboard")
        return page

    yield open_as
    for context in contexts:
        context.close()


def wait_until(check: Callable[[], bool], what: str, site, timeout: float = 180) -> None:  # type: ignore[no-untyped-def]
    """Poll ``check``; on timeout, fail with the deliveries' states and the worker's and relay's logs.
    (A delivery the worker could not verify yet is retried with backoff, hence the generous timeout.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    from sqlalchemy import select

    from docsign.db import session_scope
    from docsign.models import Delivery

    with session_scope(site.settings.database_url) as session:
        states = [(d.id, d.state, d.attempts, d.last_error, [e.description for e in d.events])
                  for d in session.scalars(select(Delivery))]
    tails = "\n".join(f"--- {name}\n{path.read_text()[-4000:]}" for name, path in site.logs.items())
    raise AssertionError(f"{what} within {timeout}s; deliveries: {states}\n{tails}")


def test_a_document_travels_from_the_province_to_lac_son_in_a_browser(person, exchange_site, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    draft = make_pdf(tmp_path / "du-thao.pdf", pages=2)

    # 1. the province's clerk uploads the draft
    clerk = person("tinh.vanthu")
    clerk.get_by_role("link", name="Dự thảo, phát hành").click()
    clerk.get_by_role("link", name="Tải lên dự thảo").click()
    clerk.get_by_label("Tệp PDF").set_input_files(str(draft))
    clerk.get_by_label("Trích yếu").fill(SUBJECT)
    clerk.get_by_label("Loại văn bản").fill("Công văn")
    clerk.get_by_label("Ký hiệu").fill("UBND-VP")
    clerk.screenshot(path=str(shots / "1-upload-form.png"), full_page=True)
    clerk.get_by_role("button", name="Tải lên").click()
    assert "Đã tải lên dự thảo" in clerk.get_by_role("alert").inner_text()
    assert clerk.locator(".stage").inner_text() == "Chờ ký duyệt"
    assert clerk.get_by_role("button", name="Ký duyệt").count() == 0
    document_url = clerk.url

    # 2. the leader sees the draft waiting and approves it with his personal key
    leader = person("tinh.lanhdao")
    assert "1 dự thảo chờ ký duyệt" in " ".join(leader.locator(".counts").inner_text().split())
    leader.screenshot(path=str(shots / "2-leader-dashboard.png"), full_page=True)
    leader.get_by_role("link", name="Dự thảo, phát hành").click()
    waiting = leader.get_by_role("table", name="Chờ ký duyệt")
    waiting.get_by_role("link", name=SUBJECT).click()
    leader.screenshot(path=str(shots / "2-leader-draft.png"), full_page=True)
    leader.get_by_role("button", name="Ký duyệt").click()
    assert "Đã ký duyệt" in leader.get_by_role("alert").inner_text()
    assert leader.locator(".verdict.green").count() == 1

    # 3. the clerk issues it with the suggested number and the agency seal, then sends it to Lạc Sơn
    clerk.goto(document_url)
    assert clerk.get_by_label("Số", exact=True).input_value() == "01"
    assert clerk.get_by_label("Ký hiệu").input_value() == "UBND-VP"
    clerk.get_by_role("button", name="Ký phát hành").click()
    assert "Đã ký phát hành" in clerk.get_by_role("alert").inner_text()
    assert clerk.locator(".verdict.green").count() == 2
    assert "01/UBND-VP" in clerk.locator("main").inner_text()
    clerk.screenshot(path=str(shots / "3-issued.png"), full_page=True)
    clerk.get_by_label(re.compile("Ủy ban nhân dân huyện Lạc Sơn")).check()
    clerk.get_by_role("button", name="Gửi", exact=True).click()
    assert "Đã gửi" in clerk.get_by_role("alert").inner_text()
    sent_url = clerk.url
    assert "/sent/" in sent_url

    # 4. it arrives at Lạc Sơn through the relay and the worker; the clerk opens, checks and accepts it
    recipient = person("lacson.vanthu")

    def arrived() -> bool:
        recipient.goto(exchange_site.url + "/inbox")
        return recipient.get_by_role("link", name=SUBJECT).count() == 1

    wait_until(arrived, "the document did not reach Lạc Sơn's inbox", exchange_site)
    assert "Đã đến" in recipient.locator("main").inner_text()
    recipient.screenshot(path=str(shots / "4-inbox.png"), full_page=True)
    recipient.get_by_role("link", name=SUBJECT).click()
    assert recipient.locator(".verdict.green").count() == 2
    verdicts = recipient.locator(".verdict").all_inner_texts()
    assert any("Nguyễn Văn An" in v for v in verdicts) and any("Con dấu" in v or "Ủy ban nhân dân tỉnh" in v
                                                              for v in verdicts)
    with recipient.expect_download() as download_info:
        recipient.get_by_role("link", name="Tải tệp PDF").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-") and download.suggested_filename.startswith("01-UBND-VP")
    assert [b.inner_text() for b in recipient.locator(".status-form button").all()] == \
        ["Trả lại (02)", "Tiếp nhận (03)"]
    recipient.get_by_role("button", name="Tiếp nhận (03)").click()
    assert "Đã cập nhật trạng thái" in recipient.get_by_role("alert").inner_text()
    assert recipient.locator(".stage .state").inner_text() == "Đã tiếp nhận"
    recipient.screenshot(path=str(shots / "5-accepted.png"), full_page=True)

    # 5. the sender sees the recipient's state and history; the 03 packet reaches the province
    def answered() -> bool:
        clerk.goto(sent_url)
        history = clerk.get_by_role("table", name="Lịch sử trạng thái")
        accepted = history.locator("tbody tr", has_text="03 · Đã tiếp nhận")
        # the last column fills in when Lạc Sơn's status packet has reached the province (through the worker)
        return accepted.count() == 1 and "(+07:00)" in accepted.locator("td").last.inner_text()

    wait_until(answered, "the province did not see Lạc Sơn's 03", exchange_site)
    text = clerk.locator("main").inner_text()
    assert "Đã tiếp nhận" in text and "01 · Đã đến" in text and "Lê Thị Hoa" in text
    assert clerk.get_by_role("button", name="Thu hồi (13)").count() == 1
    clerk.screenshot(path=str(shots / "6-sender-sees-03.png"), full_page=True)

    clerk.get_by_role("link", name="Dự thảo, phát hành").click()
    assert clerk.get_by_role("table", name="Đã gửi").get_by_role("link", name=SUBJECT).count() == 1
    clerk.screenshot(path=str(shots / "6-sender-documents.png"), full_page=True)

    # the same page in English
    clerk.goto(sent_url + "?lang=en")
    assert "Accepted" in clerk.locator("main").inner_text()
    assert clerk.get_by_role("button", name="Recall (13)").count() == 1
    clerk.screenshot(path=str(shots / "7-sender-english.png"), full_page=True)
    print(f"screenshots in {shots}")
