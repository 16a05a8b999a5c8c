"""The host's studio, the promoter's console and sign-up in a real Chromium (tests/e2e/stack.py):
a host starts the session, adds and pins products, drops coupons, watches the numbers and
moderates chat; a promoter creates a campaign; a newcomer signs up. No console errors;
screenshots for docs/screenshots/."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from catalog import services as catalog
from coupons.models import Campaign, Drop
from coupons.services import campaigns as campaign_services
from orders.services.placing import order_place
from server.accounts.models import User
from streams import services as streams
from streams.models import ShowcaseItem
from tests.conftest import PASSWORD
from tests.e2e.stack import Stack
from tests.e2e.steps import drop_from_the_studio
from tests.integration.order_world import ADDRESS


@pytest.fixture
def stack_options() -> dict[str, Any]:
    return {"media": False}  # video is tests/e2e/test_studio_browser.py's


# A viewer's live socket inside a page (the viewer page is not what is under test here):
# window.viewer.send(type, data) -> the reply frame; window.viewer.frames: everything seen.
VIEWER_SOCKET = """
(sessionId) => new Promise((ready) => {
  const ws = new WebSocket(`ws://${location.host}/ws/live/${sessionId}/`);
  const viewer = { frames: [], waiting: new Map(), n: 0 };
  viewer.send = (type, data) => new Promise((done) => {
    const id = `v${++viewer.n}`;
    viewer.waiting.set(id, done);
    ws.send(JSON.stringify({ type, id, data }));
  });
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    viewer.frames.push(frame);
    if (frame.type === "snapshot") ready(true);
    const done = frame.reply_to && viewer.waiting.get(frame.reply_to);
    if (done) done(frame);
  };
  window.viewer = viewer;
})
"""


def expect_refused(page: Any) -> None:
    """Chromium logs every 4xx fetch as a console error; the one the test provoked is
    expected, and nothing else may be there."""
    assert page.errors == [
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    page.errors.clear()


def world(make_user: Callable[..., User]) -> dict[str, Any]:
    host = make_user("host", username="somchai")
    promoter = make_user("promoter", username="ploy")
    farm = catalog.farm_create(owner=host, name="Somchai's Orchard", province="Chachoengsao",
                               district="Bang Khla", poverty_county=True, households=3)  # fmt: skip
    mango = catalog.product_create(
        actor=host, farm=farm, name="Nam Dok Mai mango", unit="box", price=Decimal("450"), stock=80
    )
    rice = catalog.product_create(
        actor=host, farm=farm, name="Jasmine rice", unit="bag", price=Decimal("220"), stock=30
    )
    now = timezone.now()
    session = streams.session_create(host=host, farm=farm, title="Mango harvest live", now=now)
    streams.showcase_add(
        session=session, actor=host, product=mango, live_price=Decimal("399"), allotment=50, now=now
    )
    campaign = campaign_services.campaign_create(
        owner=promoter, name="Harvest week 10%", kind="percent", value=Decimal("10"),
        budget=200, farms=[farm],
    )  # fmt: skip
    return {"host": host, "promoter": promoter, "session": session, "mango": mango,
            "rice": rice, "campaign": campaign}  # fmt: skip


def test_host_runs_a_live_from_the_studio(stack: Stack, make_user: Callable[..., User]) -> None:
    w = world(make_user)
    session = w["session"]
    page = stack.page(w["host"])
    stack.open(page, f"/studio/{session.pk}/")
    page.get_by_text("Live channel connected.").wait_for()
    page.locator("#num-viewers", has_text="1").wait_for()  # the host's own socket

    # start the session
    page.click("[data-action=start]")
    page.locator("[data-session-status].badge-live").wait_for()
    assert page.locator("[data-action=start]").is_hidden()

    # a viewer joins: the count updates in place
    viewer_user = make_user("viewer", username="nok")
    # an account made before the drop opens may claim (CLAIM_NEEDS_PRIOR_ACCOUNT)
    User.objects.filter(pk=viewer_user.pk).update(date_joined=timezone.now() - timedelta(days=2))
    viewer = stack.page(viewer_user)
    stack.open(viewer, "/")
    assert viewer.evaluate(VIEWER_SOCKET, session.pk)
    page.locator("#num-viewers", has_text="2").wait_for()

    # add a product with a live price and allotment, then pin it with one tap
    page.click("summary:has-text('Add a product')")
    page.select_option("#sc-product", str(w["rice"].pk))
    page.fill("#sc-price", "199")
    page.fill("#sc-allotment", "999")
    page.click("button:has-text('Add to the showcase')")
    page.locator("[data-form=showcase] [data-error=allotment]", has_text="At most 30").wait_for()
    expect_refused(page)
    page.fill("#sc-allotment", "12")
    page.click("button:has-text('Add to the showcase')")
    page.locator(f"[data-showcase] [data-product='{w['rice'].pk}']").wait_for()
    page.click(f"[data-pin='{w['rice'].pk}']")
    page.locator(f"[data-pin='{w['rice'].pk}'][aria-pressed=true]").wait_for()
    assert ShowcaseItem.objects.get(session=session, product=w["rice"]).pinned_at is not None
    viewer.wait_for_function(
        "(p) => viewer.frames.some((f) => f.type === 'product.pinned' && f.data.product === p)",
        arg=w["rice"].pk,
    )

    # drop coupons from the promoter's campaign scoped to this farm
    drop_from_the_studio(page, campaign="Harvest week 10%", quantity=25, seconds=90)
    drop = Drop.objects.get(session=session)
    assert (drop.campaign_id, drop.quantity) == (w["campaign"].pk, 25)
    viewer.wait_for_function("() => viewer.frames.some((f) => f.type === 'coupon.drop')")

    # chat: the viewer speaks, the host deletes it (everyone is told), then mutes them
    said = viewer.evaluate("() => viewer.send('chat.send', {text: 'สวัสดีค่ะ fresh mangoes?'})")
    assert said["type"] == "chat.sent"
    row = page.locator(f"[data-chat-id='{said['data']['id']}']")
    row.wait_for()
    row.locator("[data-chat-delete]").click()
    row.wait_for(state="detached")
    viewer.wait_for_function(
        "(id) => viewer.frames.some((f) => f.type === 'chat.deleted' && f.data.id === id)",
        arg=said["data"]["id"],
    )
    again = viewer.evaluate("() => viewer.send('chat.send', {text: 'hello again'})")
    page.locator(f"[data-chat-id='{again['data']['id']}'] [data-chat-mute]").click()
    page.locator("[data-chat-mute][aria-pressed=true]").first.wait_for()
    refused = viewer.evaluate("() => viewer.send('chat.send', {text: 'still here?'})")
    assert refused["type"] == "error" and refused["data"]["code"] == "forbidden"

    # the live numbers (host.numbers, the host's sockets only) move as the viewer claims a
    # coupon and buys with it
    claimed = viewer.evaluate("(drop) => viewer.send('coupon.claim', {drop})", drop.pk)
    assert claimed["type"] == "coupon.claimed", claimed
    page.locator("#num-claims", has_text="1").wait_for()
    order_place(
        buyer=viewer_user, session=session.pk, items=[{"product": w["mango"].pk, "qty": 3}],
        claim=claimed["data"]["claim"], address=ADDRESS, payment_method="cod",
        now=timezone.now(),
    )  # fmt: skip
    page.locator("#num-orders", has_text="1").wait_for()
    assert "1,197" in page.locator("#num-gmv").inner_text()  # 3 x 399.00
    assert page.locator("#num-top").inner_text() == "Nam Dok Mai mango · 3"
    assert page.locator("#num-viewers").inner_text() == "2"
    page.wait_for_timeout(1000)  # the numbers' highlight fades
    Stack.screenshot(page, "studio")
    stack.assert_clean(page)
    stack.assert_clean(viewer)

    # ending takes two taps
    page.click("[data-action=end]")
    page.click("[data-action=end]")
    page.locator("[data-session-status].badge-ended").wait_for()
    session.refresh_from_db()
    assert session.status == "ended"


def test_studio_is_refused_to_another_host(stack: Stack, make_user: Callable[..., User]) -> None:
    w = world(make_user)
    page = stack.page(make_user("host", username="malee"))
    response = page.goto(f"{stack.url}/studio/{w['session'].pk}/")
    assert response is not None and response.status == 403
    assert "Only this session's host can open its studio." in page.content()


def test_promoter_creates_and_pauses_a_campaign(
    stack: Stack, make_user: Callable[..., User]
) -> None:
    w = world(make_user)
    page = stack.page(w["promoter"])
    stack.open(page, "/promote/")
    page.locator(f"[data-campaign='{w['campaign'].pk}']").wait_for()

    page.click("[data-action=new]")
    page.fill("#c-name", "Rice festival")
    page.fill("#c-value", "150")  # percent: more than 100 is refused beside the field
    page.fill("#c-budget", "40")
    page.click("button:has-text('Save campaign')")
    page.locator("[data-error=value]", has_text="At most 100").wait_for()
    assert page.locator("#c-value").get_attribute("aria-invalid") == "true"
    expect_refused(page)
    page.fill("#c-value", "15")
    page.select_option("#c-farms", str(w["session"].farm_id))
    page.click("button:has-text('Save campaign')")
    card = page.locator("[data-campaign]", has_text="Rice festival")
    card.wait_for()
    created = Campaign.objects.get(name="Rice festival")
    assert (created.kind, created.value, created.budget) == ("percent", Decimal("15"), 40)
    assert list(created.farms.values_list("id", flat=True)) == [w["session"].farm_id]
    assert card.locator("a", has_text="Return").get_attribute("href") == (
        f"/promote/campaigns/{created.pk}/"
    )

    card.locator("[data-move=paused]").click()
    page.locator(f"[data-campaign='{created.pk}'] .badge-paused").wait_for()
    assert Campaign.objects.get(pk=created.pk).status == "paused"
    page.locator(f"[data-campaign='{created.pk}'] [data-show-drops]").click()
    page.locator(f"[data-drops-of='{created.pk}']", has_text="No drops yet.").wait_for()

    Stack.screenshot(page, "promoter")
    stack.assert_clean(page)


def test_newcomer_signs_up_as_a_promoter_and_comes_back(
    stack: Stack, make_user: Callable[..., User]
) -> None:
    page = stack.page()
    stack.open(page, "/register/?next=/promote/")
    page.check("input[name=role][value=promoter]")
    page.fill("#id_username", "newpromo")
    page.fill("#id_display_name", "New Promo")
    Stack.screenshot(page, "register")
    page.fill("#id_password", "short")
    page.click("button:has-text('Create my account')")
    page.locator("#err_password").wait_for()
    assert page.locator("input[name=role][value=promoter]").is_checked()
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Create my account')")
    page.wait_for_url(f"{stack.url}/promote/")
    assert User.objects.get(username="newpromo").is_promoter
    stack.assert_clean(page)
