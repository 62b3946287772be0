"""The clerk's first minutes, in a real browser."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.embedded_only]


def test_landing_language_switch_login_and_dashboard(page, live_url, tmp_path):
    page.goto(live_url + "/")
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.get_by_role("heading", name="Kiểm tra văn bản").is_visible()
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="Check a document").is_visible()
    page.get_by_role("link", name="Tiếng Việt").click()

    page.get_by_role("link", name="Đăng nhập").first.click()
    page.get_by_label("Tên đăng nhập").fill("lacson.vanthu")
    page.get_by_label("Mật khẩu").fill("sai mật khẩu")
    page.get_by_role("button", name="Đăng nhập").click()
    assert page.get_by_role("alert").inner_text() == "Sai tên đăng nhập hoặc mật khẩu."

    page.get_by_label("Mật khẩu").fill("docsign-demo")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/dashboard")
    body = page.locator("main").inner_text()
    assert "Ủy ban nhân dân huyện Lạc Sơn" in body and "000.00.35.H30" in body
    assert "Con dấu số - Ủy ban nhân dân huyện Lạc Sơn" in body and "(+07:00)" in body
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    page.get_by_role("button", name="Đăng xuất").click()
    page.goto(live_url + "/dashboard")
    assert "/login" in page.url
