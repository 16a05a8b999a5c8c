"""The seller desk in Chromium: a host adds a product with a photo, schedules a live, finds
the paid orders waiting and accepts them in one go; no console errors on the way."""

from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from orders.models import Order, OrderStatus, Payment
from orders.services.payments import payment_event_apply
from tests.e2e.stack import Stack
from tests.e2e.steps import desk_bulk, desk_ship
from tests.integration import order_world
from tests.integration.order_world import place_live

WIDE = {"width": 1280, "height": 900}


@pytest.fixture
def stack_options() -> dict[str, Any]:
    # A worker builds a session's labels; no test here needs video.
    return {"worker": True, "media": False}


def _paid_orders(w: dict, n: int) -> list[Order]:
    """``n`` orders paid through the sandbox provider's webhook path, as buyers pay them."""
    buyer = order_world.user("buyer")
    orders = [place_live(buyer, w, method="sandbox") for _ in range(n)]
    for order in orders:
        payment = Payment.objects.get(order=order)
        payment_event_apply(
            provider="sandbox",
            event={"id": f"evt-{order.pk}", "type": "payment.succeeded",
                   "data": {"reference": payment.reference, "amount": str(payment.amount),
                            "currency": payment.currency}},
            now=order.created_at,
        )  # fmt: skip
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in orders])} == {"paid"}
    return orders


def _png() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (640, 480), (250, 200, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_host_adds_a_product_schedules_a_live_and_accepts_orders(
    stack: Stack, make_user: Callable
) -> None:
    w = order_world.world(stock=40, allotment=10)
    orders = _paid_orders(w, 3)
    page = stack.page(w["host"])

    # a product with a photo
    stack.open(page, "/desk/products/new/")
    page.get_by_label("Name", exact=True).fill("Monthong durian")
    page.get_by_label("Price").fill("120.00")
    page.get_by_label("Units in stock").fill("25")
    page.get_by_label("Photo (JPEG, PNG or WebP)").set_input_files(
        {"name": "durian.png", "mimeType": "image/png", "buffer": _png()}
    )
    page.get_by_role("button", name="Save product").click()
    page.wait_for_url("**/desk/products/")
    card = page.locator("li[data-product]", has_text="Monthong durian")
    photo = card.locator("img")
    photo.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth", photo.element_handle()) > 0
    assert "25 kg in stock" in card.inner_text()

    # a scheduled live
    stack.open(page, "/desk/sessions/")
    page.get_by_label("Title").fill("Durian Sunday")
    page.get_by_label("Starts at").fill("2031-03-02T18:30")
    page.get_by_role("button", name="Schedule").click()
    page.locator("li[data-session]", has_text="Durian Sunday").wait_for()
    assert page.locator("li[data-session]", has_text="Durian Sunday").get_by_role(
        "link", name="Open studio"
    ).count() == 1

    # the paid orders, accepted in one go
    page.set_viewport_size(WIDE)
    stack.open(page, "/desk/orders/?status=paid")
    assert page.locator("tr[data-order]").count() == 3
    desk_bulk(page, "Accept", done=3)
    for order in orders:
        row = page.locator(f'tr[data-order="{order.pk}"]')
        assert "Accepted by the farm" in row.inner_text()
        assert row.locator("[data-result]").inner_text() == "✓"
    statuses = Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)
    assert set(statuses) == {OrderStatus.ACCEPTED}
    stack.screenshot(page, "desk")
    stack.assert_clean(page)


def test_host_adds_a_webhook_endpoint_sees_its_secret_once_and_disables_it(stack: Stack) -> None:
    w = order_world.world(stock=40, allotment=10)
    page = stack.page(w["host"], viewport=WIDE)
    stack.open(page, "/desk/webhooks/")
    page.get_by_text("No endpoints yet.").wait_for()
    page.get_by_label("URL (https)").fill("http://127.0.0.1:9/talad/hooks")
    page.get_by_label("Description").fill("Packing room tablet")
    page.get_by_label("order.created").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("[data-secret]")
    secret.wait_for()
    assert secret.inner_text().startswith("whsec_")
    row = page.locator("li[data-endpoint]", has_text="Packing room tablet")
    row.wait_for()
    assert "order.created" not in row.locator(".desk-topics").inner_text()
    assert "order.paid" in row.locator(".desk-topics").inner_text()
    row.get_by_role("button", name="Disable").click()
    page.locator("li[data-endpoint]", has_text="Disabled").wait_for()
    # the secret is not shown again once the page is left
    page.locator("li[data-endpoint]").get_by_role("link", name="Deliveries").click()
    page.get_by_text("Nothing sent to this endpoint yet.").wait_for()
    assert page.locator("[data-endpoint-url]").inner_text() == "http://127.0.0.1:9/talad/hooks"
    stack.assert_clean(page)


def test_host_prints_a_sessions_labels_while_a_worker_builds_them(stack: Stack) -> None:
    w = order_world.world(stock=40, allotment=10)
    buyer = order_world.user("buyer")
    for _ in range(3):
        place_live(buyer, w)  # cash on delivery: accepted, to pack
    page = stack.page(w["host"], viewport=WIDE)
    stack.open(page, f"/desk/orders/?session={w['session'].pk}")
    page.get_by_role("button", name="Print labels for this session").click()
    link = page.get_by_role("link", name="Open the labels PDF")
    link.wait_for(timeout=60_000)
    assert link.get_attribute("href").startswith("blob:")
    assert link.get_attribute("download") == f"labels-session-{w['session'].pk}.pdf"
    # what the page offers is the PDF the server now answers at once
    client = Client()
    client.force_login(w["host"])
    pdf = stack.http.get(
        f"/api/sessions/{w['session'].pk}/labels.pdf",
        headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
    )
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert page.locator("[data-labels-panel] progress").evaluate("(bar) => bar.value === bar.max")
    # and the session's orders as CSV from the export form
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 1 + 3  # a header and one line per order line
    stack.assert_clean(page)


def test_host_packs_and_ships_in_bulk_and_a_wrong_tracking_number_is_refused(stack: Stack) -> None:
    w = order_world.world(stock=40, allotment=10)
    buyer = order_world.user("buyer")
    first, second = place_live(buyer, w), place_live(buyer, w)  # cash on delivery: accepted
    page = stack.page(w["host"])  # a phone
    stack.open(page, "/desk/orders/?status=accepted")
    desk_bulk(page, "Mark packed", done=2)
    numbers = {first.pk: "ef582621529th", second.pk: "EF582621528TH"}
    rows = desk_ship(page, numbers, carrier="thailandpost", done=1, refused=1)
    # the good one is shipped; the wrong check digit is refused beside its input, to fix
    assert "Shipped" in page.locator(f'tr[data-order="{first.pk}"]').inner_text()
    refused = rows.filter(has_text=f"#{second.pk}")
    assert refused.locator("[data-error]").inner_text() != ""
    assert rows.count() == 1
    refused.get_by_label("Tracking number").fill("EF123456785TH")
    page.get_by_role("button", name="Mark shipped").click()
    page.get_by_text("1 done, 0 refused.").wait_for()
    assert page.locator("[data-ship-panel]").is_hidden()

    # the order's own page: its shipment, its history, and no button it may not use
    stack.open(page, f"/desk/orders/{second.pk}/")
    assert "EF123456785TH" in page.locator(".desk-shipment").inner_text()
    assert page.locator("section", has_text="History").locator("li").count() >= 2
    page.wait_for_load_state("networkidle")
    assert page.locator("button[data-action=accept]").is_hidden()
    assert page.locator("[data-ship-form]").is_hidden()
    stack.assert_clean(page)
