"""The UI's two languages over real HTTP: Vietnamese by default, English once chosen (``?lang=en``, then
remembered for the session) — page texts, a form error, flash messages and a flash with a placeholder."""

from __future__ import annotations

import html

import pytest

from docsign.web.app import create_app
from tests.web.test_documents import Browser, _csrf, _flash

pytestmark = pytest.mark.embedded_only

PAGES = {  # url: (a Vietnamese text of the page, its English)
    "/dashboard": ("Việc cần làm", "To do"),
    "/documents": ("Tải lên dự thảo", "Upload a draft"),
    "/registers/arrivals": ("Sổ đăng ký văn bản đến", "Arrivals register"),
    "/verify": ("Kiểm tra văn bản có chữ ký số", "Check a digitally signed document"),
}


def test_pages_forms_and_flashes_speak_vietnamese_by_default_and_english_when_chosen(demo):
    app = create_app(demo)
    anonymous = app.test_client()
    login = anonymous.get("/login").get_data(as_text=True)
    assert 'lang="vi"' in login and "Tên đăng nhập" in login
    empty = anonymous.post("/login", data={"csrf_token": _csrf(login)}).get_data(as_text=True)
    assert "Vui lòng nhập tên đăng nhập và mật khẩu." in empty  # the form's error
    wrong = anonymous.post("/login", data={"login": "tinh.vanthu", "password": "nope", "csrf_token": _csrf(login)})
    assert _flash(wrong.get_data(as_text=True)) == "Sai tên đăng nhập hoặc mật khẩu."
    english_login = anonymous.get("/login?lang=en").get_data(as_text=True)
    assert 'lang="en"' in english_login and "Tên đăng nhập" not in english_login
    empty = anonymous.post("/login", data={"csrf_token": _csrf(english_login)}).get_data(as_text=True)
    assert "Please enter your login and password." in empty
    wrong = anonymous.post("/login", data={"login": "tinh.vanthu", "password": "nope",
                                           "csrf_token": _csrf(english_login)})
    assert _flash(wrong.get_data(as_text=True)) == "Wrong login or password."
    assert _flash(anonymous.get("/dashboard", follow_redirects=True).get_data(as_text=True)) == \
        "Please log in to continue."  # Flask-Login's message, translated when flashed

    clerk = Browser(app, "tinh.vanthu")
    for url, (vi, en) in PAGES.items():
        page = clerk.text(url)
        assert vi in page and en not in page, url
    bad = clerk.get("/registers/arrivals?from=2026-13-01")
    assert bad.status_code == 400
    assert html.unescape(_flash(bad.get_data(as_text=True))) == \
        "Khoảng thời gian không hợp lệ: '2026-13-01' is not a date (YYYY-MM-DD)"

    clerk.text("/dashboard?lang=en")
    for url, (vi, en) in PAGES.items():  # remembered without ?lang=
        page = clerk.text(url)
        assert en in page and vi not in page and 'lang="en"' in page, url
    bad = clerk.get("/registers/arrivals?from=2026-13-01")
    assert html.unescape(_flash(bad.get_data(as_text=True))) == \
        "Invalid period: '2026-13-01' is not a date (YYYY-MM-DD)"
    assert "Sổ đăng ký văn bản đến" in clerk.text("/registers/arrivals?lang=vi")
