"""Placing, reading and cancelling orders over HTTP and through the services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coupons.models import CampaignUser, Claim, Drop
from coupons.selectors import campaign_stats
from orders.errors import OutOfStock
from orders.models import Order, OrderEvent, Payment, ShowcaseBuyer
from orders.services.cancelling import order_expire, orders_expire_unpaid
from orders.services.stock import offer_gate, product_gate
from server.redis import redis_client
from streams import services as streams
from tests.integration.order_world import (
    assert_stock_conserved,
    body,
    coupon,
    place_live,
    user,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)


def place(client, payload, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/orders/", payload, format="json", **headers)


def test_promptpay_order_at_live_price_with_deadline_and_qr(client_for):
    w = world(shipping="40.00")
    buyer = user("somchai")
    reply = place(client_for(buyer), body(w, qty=3))
    assert reply.status_code == 201, reply.json()
    order = reply.json()
    assert order["status"] == "pending_payment"
    assert order["lines"] == [
        {"product": w["product"].pk, "name": "Mango", "unit": "kg", "unit_price": "80.00",
         "qty": 3, "amount": "240.00", "live": True},
    ]  # fmt: skip
    assert (order["subtotal"], order["discount"], order["shipping_fee"], order["total"]) == (
        "240.00", "0.00", "40.00", "280.00",
    )  # fmt: skip
    payment = order["payment"]
    assert payment["method"] == "promptpay" and payment["amount"] == "280.00"
    assert payment["qr_payload"].startswith("000201")
    assert payment["qr_url"].endswith("/qr/")
    assert payment["due_at"] == order["payment_due_at"] is not None
    assert order["shipments"] == [] and order["tracking"] == []
    w["item"].refresh_from_db()
    w["product"].refresh_from_db()
    assert (w["item"].left, w["product"].stock) == (7, 30)  # 40 - 10 set aside
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 7
    qr = client_for(buyer).get(payment["qr_url"])
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"


def test_cod_goes_straight_to_accepted_and_catalogue_price_outside_the_showcase(client_for):
    w = world()
    buyer = user("nok")
    payload = body(w, payment_method="cod")
    payload["items"] = [{"product": w["other"].pk, "qty": 2}]
    order = place(client_for(buyer), payload).json()
    assert order["status"] == "accepted"
    assert order["payment"] is None and order["payment_due_at"] is None
    assert order["lines"][0]["unit_price"] == "50.00" and order["lines"][0]["live"] is False
    w["other"].refresh_from_db()
    assert w["other"].stock == 3
    assert product_gate(w["other"].pk).left() == 3


def test_sandbox_order_and_a_zero_total_is_paid_at_once(client_for):
    w = world()
    buyer = user("dao")
    claim = coupon(w, buyer, kind="fixed", value=Decimal("500"))
    order = place(client_for(buyer), body(w, payment_method="sandbox", claim=claim.pk)).json()
    assert (order["total"], order["status"], order["payment"]) == ("0.00", "paid", None)
    assert not Payment.objects.exists()
    other = user("ploy")
    order = place(client_for(other), body(w, payment_method="sandbox")).json()
    assert order["status"] == "pending_payment" and "sandbox_url" in order["payment"]


def test_coupon_pricing_end_to_end_and_campaign_money(client_for):
    w = world(shipping="30.00")
    buyer = user("mali")
    claim = coupon(w, buyer, max_discount=Decimal("20.00"), min_spend=Decimal("100"))
    payload = body(w, qty=4, claim=claim.pk)
    payload["items"].append({"product": w["other"].pk, "qty": 1})
    reply = place(client_for(buyer), payload)
    assert reply.status_code == 201, reply.json()
    order = reply.json()
    # 4 x 80 + 50 = 370; 10% = 37 capped at 20; shipping is never discounted
    assert (order["subtotal"], order["discount"], order["total"]) == ("370.00", "20.00", "380.00")
    claim.refresh_from_db()
    assert claim.status == "redeemed" and claim.redeemed_at is not None
    stats = campaign_stats(campaign=claim.campaign)
    assert (stats["discount_given"], stats["gmv"], stats["redeemed"]) == (
        Decimal("20.00"), Decimal("370.00"), 1,
    )  # fmt: skip
    again = place(client_for(buyer), body(w, claim=claim.pk))
    assert again.status_code == 409 and again.json()["error"]["code"] == "claim_expired"
    client_for(buyer).post(f"/api/orders/{order['id']}/cancel/")
    stats = campaign_stats(campaign=claim.campaign)
    assert (stats["discount_given"], stats["gmv"], stats["held"]) == (0, 0, 1)


@pytest.mark.parametrize(
    ("terms", "qty"),
    [
        ({"min_spend": Decimal("500")}, 1),  # 80 < 500
        ({"currency": "USD"}, 1),
        ({"kind": "fixed", "value": Decimal("5")}, None),  # scope: another product only
    ],
)
def test_coupon_not_applicable_changes_nothing(client_for, terms, qty):
    w = world()
    buyer = user("lek")
    if qty is None:
        # the drop needs its product in the showcase; the order buys the other one
        streams.showcase_add(
            session=w["session"], actor=w["host"], product=w["other"],
            live_price=Decimal("40.00"), allotment=2, now=timezone.now(),
        )  # fmt: skip
        terms = {**terms, "products": [w["other"].pk]}
        qty = 1
    claim = coupon(w, buyer, **terms)
    reply = place(client_for(buyer), body(w, qty=qty, claim=claim.pk))
    assert reply.status_code == 422, reply.json()
    assert reply.json()["error"]["code"] == "coupon_not_applicable"
    assert not Order.objects.exists()
    claim.refresh_from_db()
    w["item"].refresh_from_db()
    assert claim.status == "claimed" and w["item"].left == 10
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 10


def test_expired_or_foreign_claim(client_for):
    w = world()
    buyer, other = user("a1"), user("b1")
    claim = coupon(w, buyer)
    Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    reply = place(client_for(buyer), body(w, claim=claim.pk))
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "claim_expired")
    reply = place(client_for(other), body(w, claim=claim.pk))
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "not_found")
    assert not Order.objects.exists()
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 10


def test_allotment_is_set_aside_and_returned_once_at_session_end(client_for):
    w = world(stock=40, allotment=10)
    w["product"].refresh_from_db()
    assert w["product"].stock == 30
    too_many = client_for(w["host"]).post(
        f"/api/sessions/{w['session'].pk}/showcase/",
        {"product": w["other"].pk, "live_price": "40.00", "allotment": 6},
        format="json",
    )
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (400, "invalid")
    w["other"].refresh_from_db()
    assert w["other"].stock == 5
    place(client_for(user("x1")), body(w, qty=4))
    now = timezone.now()
    streams.session_end(session=w["session"], actor=w["host"], now=now)
    streams.session_end(session=w["session"], actor=w["host"], now=now)
    w["product"].refresh_from_db()
    w["item"].refresh_from_db()
    assert (w["product"].stock, w["item"].left) == (36, 0)
    assert_stock_conserved(w["product"], 40)
    # after the end the product sells from the shop at its catalogue price
    order = place(client_for(user("x2")), body(w, qty=2)).json()
    assert order["lines"][0]["unit_price"] == "100.00" and order["lines"][0]["live"] is False
    assert_stock_conserved(w["product"], 40)


def test_showcase_flash_deal_fields_are_validated(client_for):
    w = world(allotment=0)
    url = f"/api/sessions/{w['session'].pk}/showcase/"
    base = {"product": w["product"].pk, "live_price": "60.00", "allotment": 5}
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    for bad in ({"deal_ends_at": past}, {"per_buyer_limit": 0}, {"per_buyer_limit": 1001},
                {"deal_ends_at": "soon"}):  # fmt: skip
        reply = client_for(w["host"]).post(url, {**base, **bad}, format="json")
        assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid"), bad
    ends = (timezone.now() + timedelta(minutes=5)).isoformat()
    good = client_for(w["host"]).post(
        url, {**base, "deal_ends_at": ends, "per_buyer_limit": 2}, format="json"
    )
    assert good.status_code == 201, good.json()
    assert good.json()["per_buyer_limit"] == 2 and good.json()["deal_ends_at"]
    w["product"].refresh_from_db()
    assert w["product"].stock == 35


def test_out_of_stock_is_answered_by_the_gate_without_the_database():
    w = world(allotment=3)
    first = user("first")
    place_live(first, w, qty=3)
    loser = user("loser")
    with CaptureQueriesContext(connection) as queries, pytest.raises(OutOfStock) as refused:
        place_live(loser, w)
    assert refused.value.code == "out_of_stock"
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert Order.objects.count() == 1


def test_the_database_guards_when_the_gate_is_optimistic(client_for):
    w = world(allotment=2)
    buyer = user("opt")
    gate = offer_gate(w["session"].pk, w["product"].pk)
    assert place(client_for(buyer), body(w, qty=1)).status_code == 201
    # Redis flushed mid-way, then the gate rebuilt too generous (as if orders were in flight)
    redis_client().flushdb()
    assert place(client_for(buyer), body(w, qty=1)).status_code == 201
    gate.release(user=0, n=5)
    reply = place(client_for(user("late")), body(w, qty=1))
    assert (reply.status_code, reply.json()["error"]["code"]) == (409, "out_of_stock")
    w["item"].refresh_from_db()
    assert w["item"].left == 0
    assert Order.objects.count() == 2
    assert gate.left() == 5  # compensated; reconcile corrects it
    from orders.services.stock import stock_gates_reconcile

    stock_gates_reconcile(now=timezone.now())
    assert gate.left() == 0


def test_flash_deal_cap_per_buyer_and_deal_end(client_for):
    ends = timezone.now() + timedelta(minutes=5)
    w = world(allotment=10, deal_ends_at=ends, per_buyer_limit=2)
    buyer = user("deal")
    api = client_for(buyer)
    assert place(api, body(w, qty=2)).status_code == 201
    capped = place(api, body(w, qty=1))
    assert (capped.status_code, capped.json()["error"]["code"]) == (409, "limit_reached")
    redis_client().flushdb()  # a gate rebuilt from the rows knows the buyer's count
    capped = place(api, body(w, qty=1))
    assert (capped.status_code, capped.json()["error"]["code"]) == (409, "limit_reached")
    # a gate that forgot it (rebuilt while orders were in flight): the database refuses
    offer_gate(w["session"].pk, w["product"].pk).build(
        left=6, opens_at=0, closes_at=ends.timestamp(), unit_limit=10**9, scope_limit=2,
        unit_users={}, scope_users={},
    )  # fmt: skip
    capped = place(api, body(w, qty=1))
    assert (capped.status_code, capped.json()["error"]["code"]) == (409, "limit_reached")
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 6  # given back
    assert ShowcaseBuyer.objects.get().bought == 2
    assert place(client_for(user("deal2")), body(w, qty=2)).status_code == 201
    # after the deal: catalogue price from the shop's stock
    later = ends + timedelta(seconds=1)
    order = place_live(buyer, w, qty=3, now=later)
    line = order.lines.get()
    assert (line.unit_price, line.from_allotment) == (Decimal("100.00"), 0)
    assert_stock_conserved(w["product"], 40)


def test_deadline_returns_stock_and_coupon_and_runs_once():
    w = world()
    buyer = user("late")
    claim = coupon(w, buyer)
    now = timezone.now()
    order = place_live(buyer, w, qty=4, claim=claim.pk, method="promptpay", now=now)
    assert not order_expire(order_id=order.pk, now=now)  # not due yet
    due = order.payment_due_at + timedelta(seconds=1)
    assert orders_expire_unpaid(now=due) == 1
    assert orders_expire_unpaid(now=due) == 0
    assert not order_expire(order_id=order.pk, now=due)
    order.refresh_from_db()
    claim.refresh_from_db()
    w["item"].refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "payment_timeout")
    assert (claim.status, w["item"].left) == ("claimed", 10)
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 10
    assert OrderEvent.objects.filter(order=order, kind="expired").count() == 1
    assert_stock_conserved(w["product"], 40)


def test_expiry_after_the_session_ended_returns_to_the_shop_and_expires_the_coupon():
    w = world()
    buyer = user("late2")
    claim = coupon(w, buyer)
    now = timezone.now()
    order = place_live(buyer, w, qty=4, claim=claim.pk, method="promptpay", now=now)
    streams.session_end(session=w["session"], actor=w["host"], now=now)
    Claim.objects.filter(pk=claim.pk).update(expires_at=now + timedelta(seconds=5))
    assert orders_expire_unpaid(now=order.payment_due_at) == 1
    claim.refresh_from_db()
    w["product"].refresh_from_db()
    assert claim.status == "expired"
    assert w["product"].stock == 40
    assert CampaignUser.objects.get(user=buyer).held == 0
    assert Drop.objects.get().claimed == 0
    assert_stock_conserved(w["product"], 40)


def test_buyer_cancels_and_a_paid_order_records_a_refund_due(client_for):
    w = world()
    buyer = user("canc")
    api = client_for(buyer)
    order = place(api, body(w, qty=2, payment_method="cod")).json()
    reply = api.post(f"/api/orders/{order['id']}/cancel/")
    assert reply.status_code == 200 and reply.json()["status"] == "cancelled"
    again = api.post(f"/api/orders/{order['id']}/cancel/")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    claim = coupon(w, buyer, kind="fixed", value=Decimal("1000"))
    paid = place(api, body(w, claim=claim.pk)).json()
    assert paid["status"] == "paid"
    assert client_for(w["host"]).post(f"/api/orders/{paid['id']}/cancel/").status_code == 200
    assert OrderEvent.objects.filter(order_id=paid["id"], kind="refund_due").count() == 1
    assert_stock_conserved(w["product"], 40)


def test_who_sees_and_cancels_what(client_for):
    w = world()
    buyer, stranger = user("own"), user("stranger")
    other_host = user("host2", "host")
    order = place(client_for(buyer), body(w)).json()
    url = f"/api/orders/{order['id']}/"
    assert client_for(buyer).get(url).status_code == 200
    assert client_for(w["host"]).get(url).status_code == 200
    for outsider in (stranger, other_host):
        reply = client_for(outsider).get(url)
        assert (reply.status_code, reply.json()["error"]["code"]) == (404, "not_found")
        assert client_for(outsider).post(url + "cancel/").status_code == 404
        assert client_for(outsider).get("/api/orders/").json()["results"] == []
    assert client_for(None).get("/api/orders/").status_code == 401
    assert [o["id"] for o in client_for(buyer).get("/api/orders/").json()["results"]] == [
        order["id"]
    ]
    seller = client_for(w["host"]).get("/api/orders/?as=seller&status=pending_payment").json()
    assert [o["id"] for o in seller["results"]] == [order["id"]]
    assert client_for(w["host"]).get("/api/orders/?as=buyer").json()["results"] == []
    assert Order.objects.get().status == "pending_payment"


@pytest.mark.parametrize(
    "payload",
    [
        {"items": []},
        {"items": [{"product": 2**70, "qty": 1}]},
        {"items": [{"product": "1\x00", "qty": 1}]},
        {"items": [{"product": 1, "qty": 0}]},
        {"items": [{"product": 1, "qty": 1001}]},
        {"items": "mango"},
        {"items": [{"product": 1, "qty": 1}], "payment_method": "gold"},
        {"items": [{"product": 1, "qty": 1}], "address": {"name": "x"}},
        {"items": [{"product": 1, "qty": 1}], "session": -1},
    ],
)
def test_bad_orders_are_refused_plainly(client_for, payload):
    w = world()
    full = {**body(w), **payload}
    reply = place(client_for(user("bad")), full)
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid")
    assert not Order.objects.exists()


def test_hostile_input_never_500(client_for):
    w = world()
    api = client_for(user("hostile"))
    for path in ("/api/orders/99999999999999999999999/", "/api/orders/1%00/"):
        assert api.get(path).status_code in (400, 404)
    deep = "[" * 100_000 + "]" * 100_000
    reply = api.post("/api/orders/", deep, content_type="application/json")
    assert reply.status_code == 400
    assert api.get("/api/orders/?session=99999999999999999999").status_code == 400
    assert api.get("/api/orders/?status=nope").status_code == 400
    two_farms = body(w)
    other_host = user("h3", "host")
    from catalog import services as catalog

    farm2 = catalog.farm_create(owner=other_host, name="F2", province="Nan", district="Pua")
    p2 = catalog.product_create(
        actor=other_host, farm=farm2, name="Rice", unit="kg", price=Decimal("30"), stock=9
    )
    two_farms["items"].append({"product": p2.pk, "qty": 1})
    reply = place(api, two_farms)
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid")
    assert place(api, {**body(w), "items": [{"product": 10**12, "qty": 1}]}).status_code == 400
    assert product_gate(p2.pk).left() == 9  # given back
    assert not Order.objects.exists()


def test_farm_shipping_fee_through_the_api(client_for):
    w = world()
    url = f"/api/farms/{w['farm'].pk}/"
    host = client_for(w["host"])
    assert host.patch(url, {"shipping_fee": "-1.00"}, format="json").status_code == 400
    reply = host.patch(url, {"shipping_fee": "25.00"}, format="json")
    assert (reply.status_code, reply.json()["shipping_fee"]) == (200, "25.00")
    order = place(client_for(user("ship")), body(w, qty=2)).json()
    assert (order["shipping_fee"], order["total"]) == ("25.00", "185.00")
