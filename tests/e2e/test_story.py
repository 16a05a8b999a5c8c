"""The whole story in one browser run (tests/e2e/stack.py, with a Celery worker): a farmer
signs in, goes live with Chromium's fake camera and pins mangoes; a viewer on a phone
watches the video, claims the coupon the farmer drops and buys with cash on delivery; the
farmer sees the order arrive in the studio, ships it from the desk with a Thailand Post
number, and the carrier's signed webhooks carry it to the buyer's door: the buyer's order
page shows the tracking timeline, and the worker emails the buyer as the parcel leaves and
arrives. Every page stays free of console errors."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from catalog import services as catalog
from coupons.models import Claim, ClaimStatus
from coupons.services import campaigns
from orders.models import Notification, NotificationStatus, Order, OrderStatus
from orders.payments.signing import webhook_sign
from streams import services as streams
from tests.e2e import steps
from tests.e2e.stack import Stack
from tests.integration.order_world import user

TRACKING = "EF582621529TH"  # a valid S10 number (check digit 9)
MANGO = "Mango / มะม่วง"


@pytest.fixture
def stack_options() -> dict[str, Any]:
    return {"worker": True}


def carrier_scan(stack: Stack, *, event_id: str, status: str, at: datetime) -> dict:
    """Thailand Post's webhook for one scan of the parcel, signed as the carrier's relay
    signs it (tests/integration/test_carrier_webhooks.py), posted to the web process."""
    item = {"barcode": TRACKING, "status": status, "status_date": at.isoformat(),
            "location": "Nan", "status_description": ""}  # fmt: skip
    body, headers = webhook_sign(
        provider="thailandpost", event_id=event_id, payload={"items": [item]},
        secrets=settings.CARRIER_WEBHOOK_SECRETS,
    )  # fmt: skip
    reply = stack.http.post("/api/shipments/webhook/thailandpost/", content=body, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


def sent_to(person: Any) -> list[str]:
    """The topics of the notifications the worker has sent ``person`` about their orders."""
    sent = Notification.objects.filter(
        user=person, role="buyer", status=NotificationStatus.SENT,
        event__topic__in=("shipment.created", "shipment.delivered"),
    )  # fmt: skip
    return list(sent.values_list("event__topic", flat=True))


def test_from_the_farmers_camera_to_the_buyers_door(stack: Stack) -> None:
    # given: a farmer with mangoes in the showcase of a live not started yet, and a
    # promoter's campaign the farmer may drop on this farm
    now = timezone.now()
    host = user("somchai", "host")
    farm = catalog.farm_create(owner=host, name="Ban Rai", province="Nan", district="Pua",
                               shipping_fee=Decimal("40"))  # fmt: skip
    mango = catalog.product_create(
        actor=host, farm=farm, name=MANGO, unit="kg", price=Decimal("100.00"), stock=40
    )
    session = streams.session_create(host=host, farm=farm, title="Mango harvest", now=now)
    streams.showcase_add(
        session=session, actor=host, product=mango, live_price=Decimal("80.00"), allotment=10,
        now=now,
    )  # fmt: skip
    campaigns.campaign_create(
        owner=user("ploy", "promoter"), name="Mango week 10%", kind="percent",
        value=Decimal("10"), budget=20, per_user_limit=1, claim_ttl_s=3600, farms=[farm],
    )  # fmt: skip

    # 1. the farmer signs in, opens the studio, starts the session, goes live, pins mangoes
    studio = stack.page()
    stack.open(studio, f"/login/?next=/studio/{session.pk}/")
    steps.sign_in(studio, "somchai")
    studio.wait_for_url(f"**/studio/{session.pk}/")
    studio.get_by_text("Live channel connected.").wait_for()
    studio.click("[data-action=start]")
    studio.locator("[data-session-status].badge-live").wait_for()
    steps.go_live(stack, studio, host=host, session_id=session.pk)
    studio.click(f"[data-pin='{mango.pk}']")
    studio.locator(f"[data-pin='{mango.pk}'][aria-pressed=true]").wait_for()
    stack.assert_clean(studio)

    # 2. a viewer on a phone opens the live page: the mangoes are pinned and the video plays
    buyer = user("nok")
    type(buyer).objects.filter(pk=buyer.pk).update(email="nok@example.com", language="en")
    viewer = stack.page(buyer, viewport=steps.SMALL_PHONE)
    viewer.context.add_init_script(steps.KEEP_PEERS)
    stack.open(viewer, f"/live/{session.pk}/")
    viewer.wait_for_selector('[data-pill][data-state="live"]')
    expect(viewer.locator("[data-pinned-name]")).to_have_text(MANGO)
    assert viewer.inner_text("[data-pinned-price]") == "80.00"
    seen = steps.wait_playing(viewer)
    assert seen["state"] == "connected" and not seen["paused"], seen
    stack.assert_clean(viewer)

    # 3. the farmer drops coupons from the studio; the viewer claims one and buys with it,
    # cash on delivery: 80.00, 10% off, 40.00 shipping
    steps.drop_from_the_studio(studio, campaign="Mango week 10%", quantity=5, seconds=120)
    steps.claim(viewer)
    claim = Claim.objects.get(user=buyer)
    steps.fill_checkout(viewer)
    expect(viewer.locator("[data-co-coupons]")).to_have_value(str(claim.pk))
    expect(viewer.locator("[data-co-total]")).to_have_text("112.00 THB")
    steps.place(viewer)
    order = Order.objects.get(buyer=buyer)
    assert (order.status, order.claim_id, order.total) == (
        OrderStatus.ACCEPTED, claim.pk, Decimal("112.00")
    )  # fmt: skip
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REDEEMED
    assert viewer.inner_text("[data-placed-total]") == "112.00 THB"
    viewer.click("[data-placed-link]")
    viewer.wait_for_url(f"**/me/orders/{order.pk}/")
    stack.open(viewer, "/me/orders/")
    assert viewer.is_visible(f'a[href="/me/orders/{order.pk}/"]')
    stack.assert_clean(viewer)

    # 4. the studio's live numbers rise as it happens (host.numbers)
    studio.locator("#num-claims", has_text="1").wait_for()
    studio.locator("#num-orders", has_text="1").wait_for()
    assert studio.locator("#num-top").inner_text() == f"{MANGO} · 1"
    stack.assert_clean(studio)

    # 5. from the desk, in another tab, the farmer packs the order and ships it by Thailand Post
    desk = stack.tab(studio)
    desk.set_viewport_size({"width": 1280, "height": 900})
    stack.open(desk, "/desk/")
    desk.locator(".desk-counts a[href$='?status=accepted']", has_text="1").click()
    desk.wait_for_url("**/desk/orders/?status=accepted")
    assert desk.locator("tr[data-order]").count() == 1
    steps.desk_bulk(desk, "Mark packed", done=1)
    steps.desk_ship(desk, {order.pk: TRACKING.lower()}, done=1)
    assert "Shipped" in desk.locator(f'tr[data-order="{order.pk}"]').inner_text()
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    stack.assert_clean(desk)

    # 6. Thailand Post reports the parcel on its way (a signed webhook): the buyer sees it
    on_its_way = carrier_scan(stack, event_id="evt_transit", status="201", at=datetime.now(UTC))
    assert on_its_way["status"] == "applied"
    stack.open(viewer, f"/me/orders/{order.pk}/")
    assert viewer.inner_text("[data-order] .status") == "Shipped"
    assert viewer.locator("ol.timeline").first.locator("li strong").all_inner_texts() == [
        "On the way"
    ]  # fmt: skip
    # then delivered
    done = carrier_scan(
        stack, event_id="evt_done", status="501", at=datetime.now(UTC) + timedelta(seconds=1)
    )
    assert done["status"] == "applied"
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED

    # and the buyer's order page shows where the parcel went, and Delivered
    stack.open(viewer, f"/me/orders/{order.pk}/")
    assert viewer.get_attribute("[data-order]", "data-order-status") == "delivered"
    assert viewer.inner_text("[data-order] .status") == "Delivered"
    assert TRACKING in viewer.inner_text("main")
    assert "Pay the courier" not in viewer.inner_text("main")  # paid at the door
    steps_seen = viewer.locator("ol.timeline").first.locator("li strong").all_inner_texts()
    assert steps_seen == ["Delivered", "On the way"], steps_seen
    Stack.screenshot(viewer, "story-timeline")
    stack.assert_clean(viewer)

    # and the worker emailed the buyer when the parcel left and when it arrived
    emailed = {"shipment.created", "shipment.delivered"}
    deadline = time.monotonic() + 20
    while set(sent_to(buyer)) != emailed:
        assert time.monotonic() < deadline, (sent_to(buyer), stack.log("worker"))
        time.sleep(0.2)
