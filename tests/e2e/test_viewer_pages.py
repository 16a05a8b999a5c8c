"""The viewer's live page and the buyer's pages in Chromium (tests/e2e/stack.py): the page
connects, a coupon the promoter drops appears and is claimed, a cash-on-delivery checkout
places the order with the coupon, and the order is in "My orders". On a 360x740 phone the
Claim and Buy buttons are on screen without scrolling sideways."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from coupons.models import Claim, ClaimStatus
from orders.models import Order, OrderStatus
from tests.e2e import steps
from tests.e2e.stack import Stack
from tests.integration.order_world import user, world


def test_a_viewer_claims_a_dropped_coupon_and_buys_with_cash_on_delivery(stack: Stack) -> None:
    # given: a live session with a pinned product (80.00 live, 100.00 in the shop)
    w = world(shipping="40", pinned=True)
    session = w["session"]
    viewer = user("nok")
    page = stack.page(viewer, viewport=steps.SMALL_PHONE)
    stack.open(page, f"/live/{session.pk}/")

    # when the socket is up, the pill says so
    page.wait_for_selector('[data-pill][data-state="live"]')
    assert page.inner_text("[data-pill]") == "Live"
    assert page.inner_text("[data-pinned-price]") == "80.00"

    # and a promoter drops 5 coupons of 10% off
    drop = steps.promoter_drop(session)

    # then it appears with its terms, coupons left and a countdown
    page.wait_for_selector("[data-drop]:not([hidden])")
    assert page.inner_text("[data-drop-terms]") == "10% off"
    assert page.inner_text("[data-drop-left]") == "5"
    assert page.inner_text("[data-drop-time]").startswith(("Ends in 1:", "Ends in 2:"))
    # a 360 px phone shows Claim and Buy without scrolling, and nothing scrolls sideways
    assert steps.fits_the_phone(page)
    Stack.screenshot(page, "viewer-drop", full_page=False)

    # when the viewer claims it
    steps.claim(page)
    claim = Claim.objects.get(user=viewer, drop=drop)
    assert claim.code in page.inner_text("[data-drop-result]")
    expect(page.locator("[data-drop-left]")).to_have_text("4")

    # and buys two with cash on delivery, with the coupon just claimed applied
    steps.fill_checkout(page, qty=2)
    expect(page.locator("[data-co-coupons]")).to_have_value(str(claim.pk))
    # the preview: 2 x 80.00 = 160.00, 10% off = 16.00, shipping 40.00
    assert page.inner_text("[data-co-subtotal]") == "160.00 THB"
    assert page.inner_text("[data-co-discount]") == "\u221216.00 THB"
    assert page.inner_text("[data-co-total]") == "184.00 THB"
    steps.place(page)

    # then the order is placed once, with the coupon, and the sheet shows the server's totals
    order = Order.objects.get(buyer=viewer)
    assert order.status == OrderStatus.ACCEPTED and order.claim_id == claim.pk
    assert order.total == Decimal("184.00")
    assert page.inner_text("[data-placed-total]") == "184.00 THB"
    assert page.is_visible("[data-pay-cod]")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REDEEMED
    # the address is remembered on this device for the next checkout
    saved = page.evaluate("JSON.parse(localStorage.getItem('talad.address'))")
    assert saved["line1"] == "99 Moo 3"
    stack.assert_clean(page)

    # and it is in "My orders", with its detail a tap away
    page.click("[data-placed-link]")
    page.wait_for_url(f"**/me/orders/{order.pk}/")
    assert "184.00 THB" in page.inner_text("main")
    stack.open(page, "/me/orders/")
    assert page.is_visible(f'a[href="/me/orders/{order.pk}/"]')
    assert "Accepted by the farm" in page.inner_text("main")
    Stack.screenshot(page, "buyer-orders")
    stack.assert_clean(page)


def test_signed_out_viewer_watches_and_is_sent_to_sign_in_then_back(stack: Stack) -> None:
    # given: a live session with a pinned product
    w = world(pinned=True)
    page = stack.page(viewport=steps.SMALL_PHONE)
    stack.open(page, f"/live/{w['session'].pk}/")
    page.wait_for_selector('[data-pill][data-state="live"]')
    # when they tap Buy
    assert page.inner_text("[data-buy]") == "Sign in to buy"
    page.click("[data-buy]")
    # then they are asked to sign in, and come back to the same live page afterwards
    page.wait_for_url(re.compile(rf"/login/\?next=/live/{w['session'].pk}/$"))
    user("shopper")
    steps.sign_in(page, "shopper")
    page.wait_for_url(f"**/live/{w['session'].pk}/")
    page.wait_for_selector('[data-pill][data-state="live"]')
    assert page.inner_text("[data-buy]") == "Buy"
    stack.assert_clean(page)
