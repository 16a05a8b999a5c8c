"""The live page in Chromium for a Thai and a Chinese phone (the browser's locale sets
Accept-Language): the words the server renders and the ones the modules draw afterwards
(the connection pill, Buy, a coupon drop's terms and countdown, the claim's result, the
checkout sheet) read in that language, and the page still fits a 360 px screen. A refusal
(the API's or the network's) reads in that language too, never as the API's English.
Screenshots: docs/screenshots/viewer-live-th.png and viewer-live-zh.png."""

import re
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from coupons.models import Claim
from coupons.services import campaigns
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
    w = world(pinned=True)
    session = w["session"]
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
    w = world(pinned=True)
    session = w["session"]
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


@pytest.mark.parametrize(("locale", "language"), [("th-TH", "th"), ("zh-CN", "zh-hans")])
def test_a_refusal_reads_in_the_users_language(stack: Stack, locale: str, language: str) -> None:
    with translation.override(language):
        fix = gettext("Please fix the marked fields.")
        offline = gettext("No connection. Check your signal and try again.")
        other = gettext("That did not work. Please try again.")
    # given: a promoter's console on a phone set to `locale`, with one active campaign
    promoter = user("ploy", "promoter")
    campaigns.campaign_create(
        owner=promoter, name="Mango week", kind="percent", value=Decimal("10"), budget=10,
        per_user_limit=1, claim_ttl_s=3600,
    )  # fmt: skip
    page = stack.page(promoter, viewport=steps.SMALL_PHONE, locale=locale)
    stack.open(page, "/promote/")
    page.locator("[data-campaign]").wait_for()

    # when a new campaign is refused field by field: the server's words stay beside the
    # field, and the sentence for the form is the user's language
    page.click("[data-action=new]")
    page.fill("#c-name", "Rice festival")
    page.fill("#c-value", "150")
    page.fill("#c-budget", "40")
    page.click("[data-form=campaign] button[type=submit]")
    expect(page.locator("[data-error=form]")).to_have_text(fix)
    assert page.inner_text("[data-error=value]") != ""
    # (Chromium logs the refused request itself; nothing else may be there)
    assert page.errors == [
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    page.errors.clear()

    # when the connection drops as the promoter pauses the campaign
    page.click("[data-action=cancel]")
    page.route("**/api/campaigns/**", lambda route: route.abort())
    page.click("[data-move=paused]")
    # then: the list says so in that language
    expect(page.locator("[data-list-error]")).to_have_text(offline)

    # and every page looks a refusal up the same way (i18n.js errorText): this page's
    # sentence for the code, the site's, this page's catch-all, the site's catch-all; the
    # API's English `message` never
    said = page.evaluate(
        """async () => {
          const src = document.querySelector('script[src*="promote"]').src;
          const { errorText, messages } = await import(new URL("i18n.js", src));
          const msg = messages(document.querySelector("[data-promote]"));
          const english = "Refused for a developer to read";
          const words = (table) => (name) => table[name] || "";
          const claim = { prefix: "claim" };
          return {
            network: errorText({ code: "network", message: english }, msg),
            unknown: errorText({ code: "no_such_code", message: english }, msg),
            thrown: errorText(new TypeError(english), msg),
            own: errorText({ code: "x" }, words({ "claim-x": "A", "claim-other": "B" }), claim),
            fallback: errorText({ code: "y" }, words({ "claim-other": "B" }), claim),
          };
        }"""
    )
    assert said == {
        "network": offline, "unknown": other, "thrown": other, "own": "A", "fallback": "B"
    }  # fmt: skip
