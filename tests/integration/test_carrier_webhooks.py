"""Thailand Post's signed tracking webhook: forged, replayed, late and out-of-order scans end
in one stored scan each, a timeline in the carrier's time, and one delivery."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from orders.models import Order, OrderEvent, Payment, TrackingEvent, WebhookEvent
from orders.payments.signing import webhook_sign
from tests.integration.order_world import place_live, user, world

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/shipments/webhook/thailandpost/"
NUMBER = "EF582621529TH"


@pytest.fixture
def shipped() -> Order:
    """A cash-on-delivery order shipped with Thailand Post."""
    w = world()
    order = place_live(user("buyer"), w, method="cod")
    host = APIClient()
    host.force_authenticate(w["host"])
    host.post(f"/api/orders/{order.pk}/pack/")
    ship = {"carrier": "thailandpost", "tracking_number": NUMBER}
    reply = host.post(f"/api/orders/{order.pk}/ship/", ship, format="json")
    assert reply.status_code == 200, reply.json()
    return order


def _item(status: str, at: datetime, barcode: str = NUMBER, **extra: str) -> dict:
    return {"barcode": barcode, "status": status, "status_date": at.isoformat(),
            "location": "Nan", "status_description": "", **extra}  # fmt: skip


def _post(payload: dict, event_id: str, at: datetime | None = None, provider: str = "thailandpost"):
    body, headers = webhook_sign(provider=provider, event_id=event_id, payload=payload, at=at,
                                 secrets=settings.CARRIER_WEBHOOK_SECRETS)  # fmt: skip
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return APIClient().post(URL, body, content_type="application/json", **extra)


def _timeline(order: Order) -> list[str]:
    client = APIClient()
    client.force_authenticate(order.buyer)
    return [e["kind"] for e in client.get(f"/api/orders/{order.pk}/").json()["tracking"]]


def test_a_bad_signature_changes_nothing(shipped):
    now = datetime.now(UTC)
    body, headers = webhook_sign(provider="thailandpost", event_id="e1",
                                 payload={"items": [_item("501", now)]},
                                 secrets=settings.CARRIER_WEBHOOK_SECRETS)  # fmt: skip
    forged = body.replace(b"501", b"401")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    reply = APIClient().post(URL, forged, content_type="application/json", **extra)
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid")
    # a payment provider's secret is not the carrier's
    other, headers = webhook_sign(provider="promptpay", event_id="e2",
                                  payload={"items": [_item("501", now)]})  # fmt: skip
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    reply = APIClient().post(URL, other, content_type="application/json", **extra)
    assert reply.status_code == 400
    shipped.refresh_from_db()
    assert shipped.status == "shipped"
    assert not TrackingEvent.objects.exists() and not WebhookEvent.objects.exists()


def test_a_replay_is_one_event(shipped):
    payload = {"items": [_item("201", datetime.now(UTC))]}
    first = _post(payload, "evt_1")
    again = _post(payload, "evt_1")
    # the same scan in another delivery is stored once too
    resent = _post(payload, "evt_2")
    assert [r.json()["status"] for r in (first, again, resent)] == [
        "applied", "duplicate", "ignored"
    ]  # fmt: skip
    assert TrackingEvent.objects.count() == 1
    assert _timeline(shipped) == ["in_transit"]


def test_delivered_before_in_transit_delivers_and_sorts_by_the_carriers_time(shipped):
    t0 = datetime.now(UTC) - timedelta(hours=6)
    # when the delivery arrives first, then older scans
    assert _post({"items": [_item("501", t0 + timedelta(hours=5))]}, "evt_d").status_code == 200
    shipped.refresh_from_db()
    assert shipped.status == "delivered"
    _post({"items": [_item("201", t0 + timedelta(hours=1)), _item("103", t0)]}, "evt_t")
    _post({"items": [_item("301", t0 + timedelta(hours=4))]}, "evt_o")
    # and a late scan after the delivery moves nothing back
    _post({"items": [_item("201", t0 + timedelta(hours=7))]}, "evt_late")
    # then
    shipped.refresh_from_db()
    assert shipped.status == "delivered"
    shipment = shipped.shipments.get()
    assert shipment.status == "delivered"
    assert shipment.delivered_at == t0 + timedelta(hours=5)
    assert _timeline(shipped) == [
        "picked_up", "in_transit", "out_for_delivery", "delivered", "in_transit"
    ]  # fmt: skip
    assert OrderEvent.objects.filter(order=shipped, kind="delivered").count() == 1
    delivered = OrderEvent.objects.get(order=shipped, kind="delivered")
    assert delivered.data["by"] == "carrier"
    assert Payment.objects.filter(order=shipped, provider="cod", status="succeeded").count() == 1


def test_a_second_delivered_scan_delivers_nothing_twice(shipped):
    now = datetime.now(UTC)
    _post({"items": [_item("501", now - timedelta(minutes=5))]}, "evt_a")
    reply = _post({"items": [_item("501", now)]}, "evt_b")
    assert reply.status_code == 200
    assert OrderEvent.objects.filter(order=shipped, kind="delivered").count() == 1
    assert Payment.objects.filter(order=shipped).count() == 1


def test_thai_calendar_dates_and_unknown_parcels(shipped):
    reply = _post({"items": [
        {"barcode": NUMBER, "status": "206", "status_date": "19/07/2569 18:12:26+07:00",
         "location": "Pua"},
        _item("201", datetime.now(UTC), barcode="EE123456785TH"),
        _item("101", datetime.now(UTC)),  # "preparing to post": not a scan of the journey
    ]}, "evt_th")  # fmt: skip
    assert reply.json() == {"status": "applied"}
    event = TrackingEvent.objects.get()
    assert event.at == datetime(2026, 7, 19, 11, 12, 26, tzinfo=UTC)
    assert (event.kind, event.location, event.source) == ("in_transit", "Pua", "thailandpost")


@pytest.mark.parametrize(
    "payload",
    [{}, {"items": "x"}, {"items": [{"barcode": NUMBER}]},
     {"items": [{"barcode": NUMBER, "status": "201", "status_date": "yesterday"}]},
     {"items": [{"barcode": NUMBER, "status": "201", "status_date": "2026-01-01T10:00:00"}]},
     {"items": [{"barcode": "EF\u0000", "status": "201", "status_date": "2026-01-01T10:00:00Z"}]},
     {"items": [{"barcode": NUMBER, "status": "\uff12\uff10\uff11",
                 "status_date": "2026-01-01T10:00:00Z"}]},
     {"items": [_item("201", datetime.now(UTC))] * 101}],
)  # fmt: skip
def test_bodies_we_cannot_read_are_a_400(shipped, payload):
    reply = _post(payload, "evt_bad")
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid")
    assert not TrackingEvent.objects.exists() and not WebhookEvent.objects.exists()


def test_carriers_without_a_webhook_have_no_endpoint(db):
    for carrier in ("manual", "kerry", "nosuch"):
        reply = APIClient().post(f"/api/shipments/webhook/{carrier}/", b"{}",
                                 content_type="application/json")  # fmt: skip
        assert (reply.status_code, reply.json()["error"]["code"]) == (404, "not_found")
