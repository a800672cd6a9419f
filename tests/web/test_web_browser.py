"""The web app in a real browser (Playwright + Debian's Chromium) against a live server."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def test_login_language_search_360_and_tag(logged_in_page, live_server, shot):
    page = logged_in_page
    assert page.locator("h1").first.inner_text() == "Overview"
    page.wait_for_selector("#overview-charts")  # the lazy section arrived (htmx works)
    shot(page, "overview")

    # switch to 繁體中文: the whole page and the next ones are in Chinese
    page.click("form.langswitch button[lang=zh-Hant]")
    page.wait_for_selector("html[lang=zh-Hant]")
    assert page.locator("nav.mainnav").inner_text().split()[:2] == ["總覽", "客戶"]

    # search a customer by e-mail, open the 360 page
    page.click("nav.mainnav >> text=客戶")
    page.fill("#q", "person20@mail.hk")
    page.press("#q", "Enter")
    page.wait_for_selector("#results a[href='/customers/c20']")
    shot(page, "search")
    page.click("#results a[href='/customers/c20']")
    page.wait_for_url(re.compile(r"/customers/c20$"))
    assert "person20@mail.hk" in page.locator("main").inner_text()

    # add a tag through the htmx form (CSRF header from hx-headers)
    page.fill("#new-tag", "vip_test")
    page.click("#tags form.row button[type=submit]")
    page.wait_for_selector("#tags .tags li >> text=vip_test")
    assert "已加上標籤 vip_test" in page.locator("#tags").inner_text()
    shot(page, "customer-360")

    page.reload()  # stored, not only shown
    assert "vip_test" in page.locator("#tags").inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-Hant"
