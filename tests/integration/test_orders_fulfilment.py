"""The fulfilment pipeline over HTTP: accept, pack, ship, deliver, complete, cancel and
refunds, who may take each, the bulk endpoint, carriers and scans typed by hand."""

from datetime import timedelta

import pytest
from django.utils import timezone

from coupons.models import Claim
from orders.models import Order, OrderEvent, Payment, PaymentStatus, Shipment
from orders.services.fulfilment import orders_complete_delivered
from tests.integration.order_world import (
    assert_claims_once,
    assert_stock_conserved,
    coupon,
    place_live,
    user,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/orders/{}/{}/"


def _paid(w, buyer, qty: int = 1, claim=None) -> Order:
    """A PromptPay order confirmed by its provider's signed webhook."""
    from orders.services.payments import payment_event_apply

    order = place_live(buyer, w, qty=qty, method="promptpay", claim=claim)
    payment = order.payments.get()
    event = {"id": f"evt_{order.pk}", "type": "payment.succeeded",
             "data": {"reference": payment.reference, "amount": str(payment.amount),
                      "currency": payment.currency}}  # fmt: skip
    assert payment_event_apply(provider="promptpay", event=event, now=timezone.now()) == "applied"
    order.refresh_from_db()
    return order


def test_the_happy_path_from_paid_to_completed(client_for, settings):
    w = world()
    buyer = user("buyer")
    order = _paid(w, buyer, qty=2)
    seller, customer = client_for(w["host"]), client_for(buyer)
    # the buyer's and the farm's actions
    assert customer.get(f"/api/orders/{order.pk}/").json()["actions"] == [
        "cancel", "refund_request"
    ]  # fmt: skip
    assert seller.get(f"/api/orders/{order.pk}/").json()["actions"] == ["accept", "cancel"]
    # when the farm moves it along
    assert seller.post(URL.format(order.pk, "accept")).json()["status"] == "accepted"
    assert seller.post(URL.format(order.pk, "pack")).json()["status"] == "packed"
    shipped = seller.post(
        URL.format(order.pk, "ship"), {"carrier": "manual", "tracking_number": "BAN-RAI-7"},
        format="json",
    )  # fmt: skip
    # then
    assert shipped.status_code == 200, shipped.json()
    data = shipped.json()
    assert data["status"] == "shipped"
    assert [(s["carrier"], s["carrier_name"], s["tracking_number"], s["status"])
            for s in data["shipments"]] == [
        ("manual", "Own delivery / other", "BAN-RAI-7", "shipped")
    ]  # fmt: skip
    assert data["actions"] == ["deliver"]
    delivered = seller.post(URL.format(order.pk, "deliver")).json()
    assert delivered["status"] == "delivered"
    assert delivered["shipments"][0]["delivered_at"] is not None
    assert [h["kind"] for h in delivered["history"]] == [
        "placed", "paid", "accepted", "packed", "shipped", "delivered"
    ]  # fmt: skip
    assert [h["by"] for h in delivered["history"]] == [
        "buyer", "provider", "seller", "seller", "seller", "seller"
    ]  # fmt: skip
    # and it becomes final only after the window
    now = timezone.now()
    assert orders_complete_delivered(now=now + timedelta(days=1)) == 0
    days = settings.ORDER_AUTO_COMPLETE_DAYS
    assert orders_complete_delivered(now=now + timedelta(days=days, minutes=1)) == 1
    order.refresh_from_db()
    assert order.status == "completed"
    assert customer.get(f"/api/orders/{order.pk}/").json()["actions"] == []


def test_cash_on_delivery_records_its_payment_once_at_delivery(client_for):
    w = world()
    order = place_live(user("cod"), w, method="cod")
    seller = client_for(w["host"])
    assert order.status == "accepted" and not order.payments.exists()
    seller.post(URL.format(order.pk, "pack"))
    seller.post(URL.format(order.pk, "ship"), {"carrier": "kerry", "tracking_number": "KEX123"},
                format="json")  # fmt: skip
    reply = seller.post(URL.format(order.pk, "deliver"))
    again = seller.post(URL.format(order.pk, "deliver"))
    assert reply.json()["status"] == "delivered"
    assert reply.json()["payment"]["status"] == "succeeded"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    assert "delivered" in again.json()["error"]["message"]
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.amount, payment.status) == ("cod", order.total, "succeeded")


def test_who_may_do_what(client_for):
    w = world()
    buyer, stranger = user("buyer"), user("stranger")
    order = _paid(w, buyer)
    # the buyer cannot take the farm's moves; a stranger does not see the order
    reply = client_for(buyer).post(URL.format(order.pk, "accept"))
    assert (reply.status_code, reply.json()["error"]["code"]) == (403, "forbidden")
    reply = client_for(stranger).post(URL.format(order.pk, "accept"))
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "not_found")
    # the farm cannot ask a refund of itself
    reply = client_for(w["host"]).post(URL.format(order.pk, "refund-request"),
                                       {"reason": "x"}, format="json")  # fmt: skip
    assert reply.status_code == 403
    # an illegal move from the current status is a conflict naming the status
    reply = client_for(w["host"]).post(URL.format(order.pk, "pack"))
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "conflict")
    assert reply.json()["error"]["status"] == "paid"
    # once packed, the buyer can no longer cancel; the farm still can
    client_for(w["host"]).post(URL.format(order.pk, "accept"))
    client_for(w["host"]).post(URL.format(order.pk, "pack"))
    reply = client_for(buyer).post(URL.format(order.pk, "cancel"))
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "conflict")
    assert client_for(buyer).get(f"/api/orders/{order.pk}/").json()["actions"] == [
        "refund_request"
    ]
    reply = client_for(w["host"]).post(URL.format(order.pk, "cancel"), {"reason": "hail"},
                                       format="json")  # fmt: skip
    assert reply.json()["status"] == "cancelled"
    assert Payment.objects.get(order=order).status == PaymentStatus.REFUNDED
    assert_stock_conserved(w["product"], 40)


def test_a_refund_before_shipping_gives_stock_and_coupon_back(client_for):
    w = world()
    buyer = user("refunder")
    claim = coupon(w, buyer)
    order = _paid(w, buyer, qty=3, claim=claim.pk)
    host = client_for(w["host"])
    host.post(URL.format(order.pk, "accept"))
    asked = client_for(buyer).post(URL.format(order.pk, "refund-request"),
                                   {"reason": "Ordered twice"}, format="json")  # fmt: skip
    assert asked.json()["status"] == "refund_requested"
    assert asked.json()["actions"] == []
    assert host.get(f"/api/orders/{order.pk}/").json()["actions"] == ["refund"]
    refunded = host.post(URL.format(order.pk, "refund"))
    assert refunded.json()["status"] == "refunded"
    w["item"].refresh_from_db()
    assert w["item"].left == 10
    assert Claim.objects.get(pk=claim.pk).status == "claimed"
    assert Payment.objects.get(order=order).status == PaymentStatus.REFUNDED
    money = OrderEvent.objects.get(order=order, kind="refund_due")
    assert money.data["amount"] == f"{order.total:.2f}"
    assert_stock_conserved(w["product"], 40)
    assert_claims_once()
    # the coupon is the buyer's to use again
    again = place_live(buyer, w, qty=1, claim=claim.pk, method="cod")
    assert again.discount > 0


def test_a_refund_after_delivery_keeps_stock_and_coupon_used(client_for, make_user):
    w = world()
    buyer = user("late")
    claim = coupon(w, buyer)
    order = _paid(w, buyer, qty=2, claim=claim.pk)
    host = client_for(w["host"])
    for step in ("accept", "pack"):
        host.post(URL.format(order.pk, step))
    host.post(URL.format(order.pk, "ship"), {"carrier": "flash", "tracking_number": "TH0123"},
              format="json")  # fmt: skip
    host.post(URL.format(order.pk, "deliver"))
    client_for(buyer).post(URL.format(order.pk, "refund-request"), {"reason": "bruised"},
                           format="json")  # fmt: skip
    # staff may grant it too, and see the order after
    staff = make_user()
    type(staff).objects.filter(pk=staff.pk).update(is_staff=True)
    staff.refresh_from_db()
    reply = client_for(staff).post(URL.format(order.pk, "refund"))
    assert reply.status_code == 200, reply.json()
    assert reply.json()["status"] == "refunded"
    w["item"].refresh_from_db()
    assert w["item"].left == 8
    assert Claim.objects.get(pk=claim.pk).status == "redeemed"
    assert_stock_conserved(w["product"], 40)
    assert_claims_once()


def test_nothing_paid_means_no_refund_request(client_for):
    w = world()
    buyer = user("cod2")
    order = place_live(buyer, w, method="cod")
    reply = client_for(buyer).post(URL.format(order.pk, "refund-request"), {"reason": "x"},
                                   format="json")  # fmt: skip
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "conflict")
    assert client_for(buyer).get(f"/api/orders/{order.pk}/").json()["actions"] == ["cancel"]


@pytest.mark.parametrize(
    ("carrier", "number", "stored"),
    [("thailandpost", "ef 582621529 th", "EF582621529TH"), ("chinapost", "RR123456785CN",
     "RR123456785CN"), ("manual", "", ""), ("kerry", " KEX-1 ", "KEX-1")],
)  # fmt: skip
def test_ship_checks_the_number_against_its_carrier(client_for, carrier, number, stored):
    w = world()
    order = place_live(user("s"), w, method="cod")
    host = client_for(w["host"])
    host.post(URL.format(order.pk, "pack"))
    reply = host.post(URL.format(order.pk, "ship"),
                      {"carrier": carrier, "tracking_number": number}, format="json")  # fmt: skip
    assert reply.status_code == 200, reply.json()
    assert reply.json()["shipments"][0]["tracking_number"] == stored


@pytest.mark.parametrize(
    ("carrier", "number"),
    [("thailandpost", "EF582621528TH"), ("thailandpost", "EF58262152TH"), ("kerry", ""),
     ("kerry", "a b"), ("kerry", "x" * 41), ("flash", "KEX\x00"), ("dhl", "1"),
     ("chinapost", "EF\uff15\uff18262152\uff19TH")],
)  # fmt: skip
def test_bad_numbers_and_carriers_are_refused_and_nothing_moves(client_for, carrier, number):
    w = world()
    order = place_live(user("b"), w, method="cod")
    host = client_for(w["host"])
    host.post(URL.format(order.pk, "pack"))
    reply = host.post(URL.format(order.pk, "ship"),
                      {"carrier": carrier, "tracking_number": number}, format="json")  # fmt: skip
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid")
    order.refresh_from_db()
    assert order.status == "packed" and not Shipment.objects.exists()


def test_one_tracking_number_ships_one_order(client_for):
    w = world()
    host = client_for(w["host"])
    first, second = (place_live(user(n), w, method="cod") for n in ("one", "two"))
    for order in (first, second):
        host.post(URL.format(order.pk, "pack"))
    number = {"carrier": "thailandpost", "tracking_number": "EF582621529TH"}
    assert host.post(URL.format(first.pk, "ship"), number, format="json").status_code == 200
    reply = host.post(URL.format(second.pk, "ship"), number, format="json")
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "conflict")
    second.refresh_from_db()
    assert second.status == "packed"


def test_bulk_moves_each_order_on_its_own(client_for):
    w = world()
    orders = [place_live(user(f"bulk{i}"), w, method="cod") for i in range(3)]
    host = client_for(w["host"])
    host.post(URL.format(orders[1].pk, "pack"))
    reply = host.post("/api/orders/bulk/", {"action": "pack", "orders": [
        {"id": o.pk} for o in orders] + [{"id": 999999}]}, format="json")  # fmt: skip
    assert reply.status_code == 200
    results = reply.json()["results"]
    assert [(r["id"], r["ok"]) for r in results] == [
        (orders[0].pk, True), (orders[1].pk, False), (orders[2].pk, True), (999999, False)
    ]  # fmt: skip
    assert results[0]["status"] == "packed"
    assert results[1]["error"]["code"] == "conflict"
    assert results[3]["error"]["code"] == "not_found"
    shipped = host.post("/api/orders/bulk/", {"action": "ship", "orders": [
        {"id": orders[0].pk, "carrier": "thailandpost", "tracking_number": "EF582621529TH"},
        {"id": orders[2].pk}]}, format="json").json()["results"]  # fmt: skip
    assert [r["ok"] for r in shipped] == [True, False]
    assert shipped[1]["error"]["code"] == "invalid"
    too_many = host.post("/api/orders/bulk/", {"action": "pack", "orders": [{"id": 1}] * 101},
                         format="json")  # fmt: skip
    assert too_many.status_code == 400
    unknown = host.post("/api/orders/bulk/", {"action": "refund", "orders": [{"id": 1}]},
                        format="json")  # fmt: skip
    assert unknown.status_code == 400


def test_carriers_are_listed(api):
    carriers = {c["code"]: c for c in api.get("/api/carriers/").json()}
    assert carriers["thailandpost"] == {"code": "thailandpost", "name": "Thailand Post",
                                        "tracking": "s10", "webhook": True}  # fmt: skip
    assert carriers["manual"]["tracking"] == "free" and not carriers["manual"]["webhook"]


def test_scans_typed_by_hand_make_the_timeline_and_deliver(client_for):
    w = world()
    buyer = user("watcher")
    order = place_live(buyer, w, method="cod")
    host = client_for(w["host"])
    host.post(URL.format(order.pk, "pack"))
    sid = host.post(URL.format(order.pk, "ship"), {"carrier": "manual"},
                    format="json").json()["shipments"][0]["id"]  # fmt: skip
    events = f"/api/orders/{order.pk}/shipments/{sid}/events/"
    now = timezone.now()
    hour_ago = (now - timedelta(hours=1)).isoformat()
    later = host.post(events, {"kind": "out_for_delivery", "location": "Nan", "at": hour_ago},
                      format="json")  # fmt: skip
    assert later.status_code == 201, later.json()
    host.post(events, {"kind": "picked_up", "at": (now - timedelta(hours=5)).isoformat()},
              format="json")  # fmt: skip
    # the buyer may not type scans, nor anyone into the future or a made-up kind
    assert client_for(buyer).post(events, {"kind": "delivered"}, format="json").status_code == 403
    future = host.post(events, {"kind": "in_transit", "at": (now + timedelta(days=1)).isoformat()},
                       format="json")  # fmt: skip
    assert future.status_code == 400
    assert host.post(events, {"kind": "teleported"}, format="json").status_code == 400
    other = f"/api/orders/{order.pk}/shipments/{sid + 1000}/events/"
    assert host.post(other, {"kind": "delivered"}, format="json").status_code == 404
    done = host.post(events, {"kind": "delivered", "location": "Pua"}, format="json").json()
    assert done["status"] == "delivered"
    assert [e["kind"] for e in done["tracking"]] == ["picked_up", "out_for_delivery", "delivered"]
    assert client_for(buyer).get(f"/api/orders/{order.pk}/").json()["tracking"] == done["tracking"]


def test_scans_of_a_webhook_carrier_are_not_typed_by_hand(client_for):
    w = world()
    order = place_live(user("tp"), w, method="cod")
    host = client_for(w["host"])
    host.post(URL.format(order.pk, "pack"))
    data = host.post(URL.format(order.pk, "ship"),
                     {"carrier": "thailandpost", "tracking_number": "EF582621529TH"},
                     format="json").json()  # fmt: skip
    assert data["actions"] == []  # the carrier says delivered, not the farm
    sid = data["shipments"][0]["id"]
    reply = host.post(f"/api/orders/{order.pk}/shipments/{sid}/events/", {"kind": "delivered"},
                      format="json")  # fmt: skip
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "conflict")
    reply = host.post(URL.format(order.pk, "deliver"))
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "conflict")
