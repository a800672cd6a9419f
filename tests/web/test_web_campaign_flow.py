"""The marketer's loop in a real browser (Playwright + Debian's Chromium, live server):
build a segment with three conditions watching the count change, save it, open a customer,
create a broadcast with an A/B split, preview a personalised message in 繁體中文, export it,
feed delivery/read/order events through /v1/batch with a write key, and read the KPIs."""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest

pytestmark = pytest.mark.slow

SLUG = "wa_hk_buyers"


def _language(page, lang: str) -> None:
    if page.locator("html").get_attribute("lang") != lang:
        page.click(f"form.langswitch button[lang={lang}]")
        page.wait_for_selector(f"html[lang={lang}]")


def _count(page) -> str:
    return page.locator("#member-count").get_attribute("data-count")


def _wait_count_change(page, before: str) -> str:
    page.wait_for_function(
        "b => { const e = document.querySelector('#member-count');"
        " return e && e.dataset.count !== '' && e.dataset.count !== b; }",
        arg=before,
    )
    return _count(page)


def test_segment_broadcast_export_and_kpis(logged_in_page, live_server, shot, artifacts):
    page = logged_in_page
    _language(page, "en")

    # -- build a segment with three conditions, watching the count ------------------------------
    page.goto("/segments/new")
    page.wait_for_function("() => document.querySelector('#member-count').dataset.count !== ''")
    everyone_with_country = _count(page)
    page.select_option("select[name='n.0.op']", "eq")  # re-renders the condition's controls
    page.wait_for_selector("input[name='n.0.value']")
    nobody = _wait_count_change(page, everyone_with_country)  # country is '' (empty value)
    assert nobody == "0"
    page.fill("input[name='n.0.value']", "HK")
    in_hk = _wait_count_change(page, nobody)
    page.select_option("#c-n-add", "add:n:consent")  # WhatsApp consent
    page.wait_for_selector("select[name='n.1.channel']")
    consenting = _wait_count_change(page, in_hk)
    page.select_option("#c-n-add", "add:n:ordered")  # at least one completed order
    page.wait_for_selector("input[name='n.2.name']")
    buyers = _wait_count_change(page, consenting)
    counts = [int(x) for x in (everyone_with_country, in_hk, consenting, buyers)]
    assert counts[0] > counts[1] > counts[2] > counts[3] > 0, counts
    shot(page, "builder-three-conditions")

    # a typo shows the problem next to the condition, and the count waits for the fix
    page.fill("input[name='n.0.field']", "countyr")
    page.press("input[name='n.0.field']", "Tab")
    page.wait_for_selector("#c-n-0-problems .alert")
    assert "Did you mean country" in page.locator("#c-n-0-problems").inner_text()
    assert _count(page) == ""
    shot(page, "builder-problem")
    page.fill("input[name='n.0.field']", "country")
    page.press("input[name='n.0.field']", "Tab")
    page.wait_for_function("() => document.querySelector('#member-count').dataset.count !== ''")
    page.wait_for_selector("select[name='n.0.op']")
    if page.locator("input[name='n.0.value']").input_value() != "HK":
        page.select_option("select[name='n.0.op']", "eq")
        page.fill("input[name='n.0.value']", "HK")
    page.wait_for_function(
        "n => document.querySelector('#member-count').dataset.count === n", arg=buyers
    )

    # -- save it ------------------------------------------------------------------------------
    page.fill("input[name='meta.slug']", SLUG)
    page.fill("input[name='meta.title_en']", "WhatsApp buyers in Hong Kong")
    page.fill("input[name='meta.title_zh_hant']", "香港 WhatsApp 買家")
    page.click("#save-segment")
    page.wait_for_url(re.compile(rf"/segments/{SLUG}\?saved=1$"))
    page.wait_for_selector("#live-member-count")
    assert page.locator("#live-member-count").get_attribute("data-count") == buyers
    shot(page, "segment-saved")

    # -- open a customer from the sample --------------------------------------------------------
    first = page.locator("#live-count table a").first
    customer = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(rf"/customers/{customer}$"))
    assert customer in page.locator("main").inner_text()
    shot(page, "customer")

    # -- a broadcast with an A/B split and a holdout ----------------------------------------------
    page.goto(f"/broadcasts/new?segment={SLUG}")
    page.fill("input[name=name]", "Spring VIP")
    page.check("input[name=offer_codes]")
    page.wait_for_function(
        "n => document.querySelector('#reach-count').dataset.count === n", arg=buyers
    )
    assert "A: 45%" in page.locator("#groups").inner_text()
    shot(page, "broadcast-form")
    page.click("#create-broadcast")
    page.wait_for_url(re.compile(r"/broadcasts/cmp_"))
    campaign_id = page.url.rsplit("/", 1)[1]

    # -- preview one recipient's message in 繁體中文 -----------------------------------------
    _language(page, "zh-Hant")
    page.wait_for_selector("#recipient")  # the recipients load right after the page
    options = page.locator("#recipient option").all()
    chosen = next(
        o.get_attribute("value")
        for o in options
        if "zh-Hant" in o.inner_text() and "對照組" not in o.inner_text()
    )
    page.select_option("#recipient", chosen)
    page.wait_for_selector("#message-text")
    text = page.locator("#message-text").inner_text()
    assert "新品已到" in text and page.locator("#message-text").get_attribute("lang") == "zh-Hant"
    shot(page, "preview-zh-hant")

    # -- export: the browser downloads the CSV ---------------------------------------------------
    with page.expect_download() as download:
        page.click("#export-broadcast")
    path = artifacts / f"{campaign_id}.csv"
    download.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows and {r["variant"] for r in rows} <= {"A", "B"}
    assert all(r["offer_code"] for r in rows)
    zh_row = next(r for r in rows if r["customer_id"] == chosen)
    assert zh_row["text"] == text

    # -- a write key, and the channel's report through /v1/batch ----------------------------------
    page.goto("/data")
    page.fill("input[name=name]", "whatsapp-report")
    page.click("#keys form.row button[type=submit]")
    token = page.locator("#new-token").inner_text().strip()
    batch = []
    for i, r in enumerate(rows):
        props = {"campaign_id": campaign_id, "message_id": r["message_id"]}
        who = {"userId": r["customer_id"], "context": {"traits": {"phone": r["contact"]}}}
        batch.append({"type": "track", "event": "Message Delivered", "properties": props, **who})
        if i % 2 == 0:
            batch.append({"type": "track", "event": "Message Read", "properties": props, **who})
    buyers_with_code = rows[:2]
    for r in buyers_with_code:
        batch.append({"type": "track", "event": "Order Completed", "userId": r["customer_id"],
                      "context": {"traits": {"phone": r["contact"]}},
                      "properties": {"order_id": f"pos-{r['offer_code']}",
                                     "coupon": r["offer_code"].lower(),
                                     "total": 120.0}})  # fmt: skip
    auth = base64.b64encode(f"{token}:".encode()).decode()
    answer = page.request.post(
        f"{live_server}/v1/batch",
        data={"batch": batch},
        headers={"Authorization": f"Basic {auth}"},
    )
    assert answer.ok, answer.text()

    # -- the campaign's KPIs ------------------------------------------------------------------
    page.goto(f"/campaigns/{campaign_id}")
    totals = dict(
        re.findall(
            r'data-col="(\w+)"><div class="label">[^<]*</div><div class="value">([^<]*)<',
            page.content(),
        )
    )
    assert totals["sent"] == f"{len(rows):,}"
    assert totals["delivered"] == f"{len(rows):,}"
    assert totals["read"] == f"{len(range(0, len(rows), 2)):,}"
    assert int(totals["converted"]) >= len(buyers_with_code)
    assert float(totals["revenue"].replace(",", "")) >= 240.0
    assert page.locator("#verdicts li").count() >= 1  # A/B verdicts, in 繁體中文
    assert "依版本" in page.locator("main").inner_text()
    shot(page, "campaign-kpis")
