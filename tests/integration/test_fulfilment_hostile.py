"""Hostile input to the order moves, bulk, scans and the carrier webhook: each answer a 4xx
in the contract's shape (or a refusal the endpoint documents), never a 500."""

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from orders.models import Order
from orders.payments.signing import webhook_sign
from tests.integration.order_world import place_live, user, world

pytestmark = pytest.mark.django_db(transaction=True)
HUGE = 10**40


@pytest.fixture
def shipped():
    w = world()
    order = place_live(user("buyer"), w, method="cod")
    host = APIClient()
    host.force_authenticate(w["host"])
    assert host.post(f"/api/orders/{order.pk}/pack/").status_code == 200
    ship = {"carrier": "kerry", "tracking_number": "K1"}
    reply = host.post(f"/api/orders/{order.pk}/ship/", ship, format="json")
    assert reply.status_code == 200
    return order, host, reply.json()["shipments"][0]["id"]


def _j(**fields) -> bytes:
    return json.dumps(fields).encode()


def _scan(barcode: str, status: str, at: str) -> dict:
    return {"barcode": barcode, "status": status, "status_date": at}


def _refused(reply, statuses=(400, 403, 404, 405, 409, 413, 415, 422)) -> None:
    assert reply.status_code in statuses, (reply.status_code, reply.content[:300])
    if reply.status_code != 405:
        body = reply.json()
        assert set(body) == {"error"} and body["error"]["code"], body


def test_hostile_moves_are_refused(shipped):
    order, host, sid = shipped
    base = f"/api/orders/{order.pk}"
    events = f"{base}/shipments/{sid}/events/"
    nul_number = b'{"carrier": "thailandpost", "tracking_number": "EF58262\\u00001529TH"}'
    nul_carrier = {"id": order.pk, "carrier": "\u0000", "tracking_number": None}
    raw = [
        (f"{base}/ship/", b"{not json"),
        (f"{base}/ship/", nul_number),
        (f"{base}/ship/", _j(carrier=["kerry"], tracking_number={"a": 1})),
        (f"{base}/ship/", _j(carrier="kerry", tracking_number="x" * 5000)),
        (f"{base}/cancel/", _j(reason="\u0000" * 10)),
        (f"{base}/cancel/", b"[1, 2]"),
        (f"{base}/refund-request/", _j(reason="r" * 100000)),
        (f"{base}/refund-request/", _j(reason=HUGE)),
        (events, _j(kind="delivered\u0000")),
        (events, _j(kind="in_transit", at="9999-12-31T23:59:59+14:00")),
        (events, _j(kind="in_transit", at="0001-01-01T00:00:00-12:00")),
        (events, _j(kind="in_transit", at="2025-13-45")),
        (events, _j(kind="in_transit", location="\u0000", note="n" * 10000)),
        (f"{base}/shipments/{HUGE}/events/", _j(kind="in_transit")),
        (f"/api/orders/{HUGE}/accept/", b""),
        ("/api/orders/bulk/", _j(action="ship", orders=[{"id": HUGE}])),
        ("/api/orders/bulk/", _j(action="explode", orders=[{"id": 1}])),
        ("/api/orders/bulk/", _j(action="accept", orders=[{"id": "x"}])),
        ("/api/orders/bulk/", _j(action="accept", orders=[{"id": 1}] * 101)),
        ("/api/orders/bulk/", _j(action="ship", orders=[nul_carrier])),
        ("/api/orders/bulk/", _j(action="accept", orders="all")),
        ("/api/orders/bulk/", b"[" * 40 + b"]" * 40),
    ]
    buyer = APIClient()
    buyer.force_authenticate(order.buyer)
    for client in (host, buyer):
        for url, body in raw:
            reply = client.post(url, body, content_type="application/json")
            if reply.status_code == 200 and "bulk" in url:
                assert all("ok" in r for r in reply.json()["results"])
                continue
            if reply.status_code == 201:  # a scan the farm may type (an old date is no lie)
                continue
            _refused(reply)
    assert Order.objects.get(pk=order.pk).status == "shipped"


def test_hostile_carrier_webhooks_are_refused(shipped):
    url = "/api/shipments/webhook/thailandpost/"
    number = "EF582621529TH"
    bodies = [
        {"items": "all"},
        {"items": [_scan("\u0000", "501", "2025-01-01T00:00:00+07:00")]},
        {"items": [_scan(number, "501", "99/99/9999 99:99:99+07:00")]},
        {"items": [{"barcode": number, "status": 501, "status_date": 5}]},
        {"items": [_scan(number, "501", "31/12/9999 23:59:59+14:00")]},
        {"items": [_scan(number, "501", "01/01/0001 00:00:00-12:00")]},
        {"items": [{"barcode": number, "status": "501"}] * 1000},
        {"items": [None, 1, "x"]},
        [],
    ]
    for i, payload in enumerate(bodies):
        body, headers = webhook_sign(provider="thailandpost", event_id=f"h{i}", payload=payload,
                                     secrets=settings.CARRIER_WEBHOOK_SECRETS)  # fmt: skip
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        reply = APIClient().post(url, body, content_type="application/json", **extra)
        if reply.status_code == 200:
            assert reply.json()["status"] in ("applied", "ignored", "duplicate")
            continue
        _refused(reply)
    for carrier in ("kerry", "\u0000", "x" * 300):
        _refused(APIClient().post(f"/api/shipments/webhook/{carrier}/", b"{}",
                                  content_type="application/json"))  # fmt: skip
