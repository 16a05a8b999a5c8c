"""The live page in Chromium for a Thai and a Chinese phone (the browser's locale sets
Accept-Language): the words the server renders and the ones the modules draw afterwards
(the connection pill, Buy, a coupon drop's terms and countdown, the claim's result, the
checkout sheet) read in that language, and the page still fits a 360 px screen.
Screenshots: docs/screenshots/viewer-live-th.png and viewer-live-zh.png."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from coupons.models import Claim
from streams import services as streams
from tests.e2e import steps
from tests.e2e.stack import Stack
from tests.integration.order_world import user, world

WORDS = {
    "th-TH": {
        "lang": "th", "screenshot": "viewer-live-th", "pill": "กำลังไลฟ์", "buy": "ซื้อเลย",
        "claim": "เก็บคูปอง", "terms": "ลด 10%", "ends_in": re.compile(r"^หมดเวลาใน [12]:\d\d$"),
        "claimed": "เก็บได้แล้ว! โค้ด {code}", "chat": "แชต", "send": "ส่ง",
        "placeholder": "พิมพ์อะไรสักหน่อย…", "watching": "คนกำลังดู", "checkout": "ชำระเงิน",
        "no_coupon": "ไม่ใช้คูปอง", "coupon_ok": "ใช้คูปอง {code} แล้ว",
        "place": "สั่งซื้อ", "cod": "เก็บเงินปลายทาง",
    },
    "zh-CN": {
        "lang": "zh-hans", "screenshot": "viewer-live-zh", "pill": "直播中", "buy": "购买",
        "claim": "领取", "terms": "立减 10%", "ends_in": re.compile(r"^[12]:\d\d 后结束$"),
        "claimed": "抢到啦\uff01券码 {code}", "chat": "聊天", "send": "发送",
        "placeholder": "说点什么…", "watching": "人在看", "checkout": "结算",
        "no_coupon": "不使用优惠券", "coupon_ok": "已使用优惠券 {code}",
        "place": "提交订单", "cod": "货到付款",
    },
}  # fmt: skip


@pytest.mark.parametrize("locale", ["th-TH", "zh-CN"])
def test_the_live_page_speaks_the_phones_language(stack: Stack, locale: str) -> None:
    words = WORDS[locale]
    # given: a live session with a pinned product, watched from a phone set to `locale`
    w = world()
    session = w["session"]
    streams.showcase_pin(
        session=session, actor=w["host"], product_id=w["product"].pk, now=timezone.now()
    )
    viewer = user("nok")
    page = stack.page(viewer, viewport=steps.SMALL_PHONE, locale=locale)
    stack.open(page, f"/live/{session.pk}/")
    assert page.get_attribute("html", "lang") == words["lang"]

    # when the socket is up: what the modules drew is in that language
    page.wait_for_selector('[data-pill][data-state="live"]')
    assert page.inner_text("[data-pill]") == words["pill"]
    assert page.inner_text("[data-buy]") == words["buy"]
    # and so is what the server rendered
    assert page.inner_text("#chat-title") == words["chat"]
    assert page.inner_text("[data-chat-form] button") == words["send"]
    assert page.get_attribute("#chat-text", "placeholder") == words["placeholder"]
    assert words["watching"] in page.inner_text(".watching")

    # when a promoter drops 5 coupons of 10% off
    steps.promoter_drop(session)

    # then its terms, countdown and Claim button read in that language
    page.wait_for_selector("[data-drop]:not([hidden])")
    assert page.inner_text("[data-drop-terms]") == words["terms"]
    assert words["ends_in"].match(page.inner_text("[data-drop-time]"))
    assert page.inner_text("[data-claim]") == words["claim"]
    # longer words still fit a 360 px phone: Claim and Buy on screen, nothing sideways
    assert steps.fits_the_phone(page)

    # when the viewer claims it, the result says so in that language
    page.click("[data-claim]")
    expect(page.locator("[data-drop-left]")).to_have_text("4")
    claim = Claim.objects.get(user=viewer)
    expect(page.locator("[data-drop-result]")).to_have_text(
        words["claimed"].format(code=claim.code)
    )
    page.wait_for_timeout(1200)  # the ticker's highlight and the countdown settle
    Stack.screenshot(page, words["screenshot"], full_page=False)

    # and the checkout sheet the modules fill in speaks it too
    page.click("[data-buy]")
    page.wait_for_selector("[data-sheet][open]")
    sheet = page.locator("[data-sheet]")
    expect(sheet.locator("[data-co-coupons] option").first).to_have_text(words["no_coupon"])
    expect(sheet.locator("[data-co-coupons]")).to_have_value(str(claim.pk))
    expect(sheet.locator("[data-co-coupon-note]")).to_have_text(
        words["coupon_ok"].format(code=claim.code)
    )
    assert words["checkout"] in sheet.inner_text()
    assert words["cod"] in sheet.inner_text()
    assert page.inner_text("[data-co-place]") == words["place"]
    stack.assert_clean(page)


@pytest.mark.parametrize(
    ("locale", "buy", "claim"),
    [("th-TH", "เข้าสู่ระบบเพื่อซื้อ", "เข้าสู่ระบบเพื่อเก็บคูปอง"), ("zh-CN", "登录后购买", "登录后领取")],
)
def test_signed_out_the_longer_sign_in_labels_still_fit_a_phone(
    stack: Stack, locale: str, buy: str, claim: str
) -> None:
    # given: a live session with a pinned product and an open drop, watched signed out
    w = world()
    session = w["session"]
    streams.showcase_pin(
        session=session, actor=w["host"], product_id=w["product"].pk, now=timezone.now()
    )
    steps.promoter_drop(session, kind="fixed", value="20")
    page = stack.page(viewport=steps.SMALL_PHONE, locale=locale)
    stack.open(page, f"/live/{session.pk}/")
    page.wait_for_selector('[data-pill][data-state="live"]')
    page.wait_for_selector("[data-drop]:not([hidden])")
    # then: both buttons ask to sign in, in that language, on screen, nothing sideways
    assert page.inner_text("[data-buy]") == buy
    assert page.inner_text("[data-claim]") == claim
    assert steps.fits_the_phone(page)
    stack.assert_clean(page)
