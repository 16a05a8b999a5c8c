"""The seller desk in Chromium: a host adds a product with a photo, schedules a live, finds
the paid orders waiting and accepts them in one go; no console errors on the way."""

from collections.abc import Callable
from io import BytesIO

from PIL import Image

from orders.models import Order, OrderStatus, Payment
from orders.services.payments import payment_event_apply
from tests.e2e.stack import Stack
from tests.integration import order_world
from tests.integration.order_world import place_live

WIDE = {"width": 1280, "height": 900}


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
    page.get_by_label("All on this page").check()
    page.get_by_role("button", name="Accept", exact=True).click()
    page.get_by_text("3 done, 0 refused.").wait_for()
    for order in orders:
        row = page.locator(f'tr[data-order="{order.pk}"]')
        assert "Accepted by the farm" in row.inner_text()
        assert row.locator("[data-result]").inner_text() == "✓"
    statuses = Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)
    assert set(statuses) == {OrderStatus.ACCEPTED}
    stack.screenshot(page, "desk")
    stack.assert_clean(page)
