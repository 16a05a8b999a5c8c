"""Payment webhooks and the sandbox gateway over HTTP, against real PostgreSQL and Redis.

A provider's event is signed (Standard Webhooks), may come twice, late, out of order or
forged; each case ends in exactly one effect and the right state, and nothing a sender can
put in a header or body is a server error.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import (
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    WebhookEvent,
)
from orders.payments.signing import webhook_sign
from orders.services.transitions import order_transition
from tests.integration.order_world import body, user, world

pytestmark = pytest.mark.integration
URL = "/api/payments/webhook/{}/"


def _order(method: str = "promptpay", qty: int = 2) -> Payment:
    """An order placed through the API (two units at the live price of 80.00, plus 19.00
    shipping: 179.00), and its pending payment."""
    w = world(shipping="19.00")
    buyer = user(f"buyer{Order.objects.count()}")
    client = APIClient()
    client.force_authenticate(buyer)
    reply = client.post("/api/orders/", body(w, qty=qty, payment_method=method), format="json")
    assert reply.status_code == 201, reply.json()
    return Payment.objects.select_related("order").get(order_id=reply.json()["id"])


@pytest.fixture
def pending(db) -> Payment:
    return _order()


def _event(payment: Payment, kind: str = "payment.succeeded", **data: str) -> dict:
    body = {"reference": payment.reference, "amount": str(payment.amount), "currency": "THB"}
    return {"type": kind, "data": {**body, **data}}


def _meta(headers: dict[str, str]) -> dict[str, str]:
    """HTTP headers as the test client takes them (``HTTP_WEBHOOK_ID=...``)."""
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}


def _post(api, provider: str, payload: dict, event_id: str = "evt_1", at: datetime | None = None):
    body, headers = webhook_sign(provider=provider, event_id=event_id, payload=payload, at=at)
    extra = _meta(headers)
    return api.post(URL.format(provider), body, content_type="application/json", **extra)


def _status(payment: Payment) -> tuple[str, str]:
    payment.refresh_from_db()
    return payment.status, Order.objects.get(pk=payment.order_id).status


def test_a_signed_success_marks_the_order_paid_once(api, pending):
    # when
    first = _post(api, "promptpay", _event(pending))
    replay = _post(api, "promptpay", _event(pending))
    # then
    assert (first.status_code, first.json()) == (200, {"status": "applied"})
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate"})
    assert _status(pending) == (PaymentStatus.SUCCEEDED, OrderStatus.PAID)
    assert OrderEvent.objects.filter(order_id=pending.order_id, kind="paid").count() == 1
    assert WebhookEvent.objects.filter(provider="promptpay").count() == 1


def test_a_bad_signature_changes_nothing(api, pending):
    body, headers = webhook_sign(provider="promptpay", event_id="evt_x", payload=_event(pending))
    forged = body.replace(b"179.00", b"1.00")
    extra = _meta(headers)
    response = api.post(URL.format("promptpay"), forged, content_type="application/json", **extra)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert _status(pending) == (PaymentStatus.PENDING, OrderStatus.PENDING_PAYMENT)
    assert not WebhookEvent.objects.exists()


def test_a_signature_for_another_provider_does_not_verify(api, pending):
    body, headers = webhook_sign(provider="sandbox", event_id="evt_s", payload=_event(pending))
    extra = _meta(headers)
    response = api.post(URL.format("promptpay"), body, content_type="application/json", **extra)
    assert response.status_code == 400
    assert _status(pending) == (PaymentStatus.PENDING, OrderStatus.PENDING_PAYMENT)


def test_a_stale_timestamp_is_refused(api, pending):
    old = datetime.now(UTC) - timedelta(minutes=6)
    response = _post(api, "promptpay", _event(pending), at=old)
    assert response.status_code == 400
    assert _status(pending) == (PaymentStatus.PENDING, OrderStatus.PENDING_PAYMENT)


def test_failed_after_succeeded_changes_nothing(api, pending):
    _post(api, "promptpay", _event(pending), event_id="evt_ok")
    late_failure = _post(api, "promptpay", _event(pending, "payment.failed"), event_id="evt_no")
    assert late_failure.status_code == 200
    assert _status(pending) == (PaymentStatus.SUCCEEDED, OrderStatus.PAID)


def test_succeeded_after_failed_wins(api, pending):
    _post(api, "promptpay", _event(pending, "payment.failed"), event_id="evt_no")
    assert _status(pending) == (PaymentStatus.FAILED, OrderStatus.PENDING_PAYMENT)
    _post(api, "promptpay", _event(pending), event_id="evt_ok")
    assert _status(pending) == (PaymentStatus.SUCCEEDED, OrderStatus.PAID)


def test_a_wrong_amount_is_recorded_not_accepted(api, pending):
    response = _post(api, "promptpay", _event(pending, amount="1.00"))
    assert response.json() == {"status": "ignored"}
    assert _status(pending) == (PaymentStatus.PENDING, OrderStatus.PENDING_PAYMENT)
    assert OrderEvent.objects.filter(order_id=pending.order_id, kind="payment_mismatch").exists()


def test_money_after_the_order_was_cancelled_is_kept_on_record_for_refund(api, pending):
    # given the deadline passed first
    order_transition(
        order=Order.objects.get(pk=pending.order_id),
        name="expire",
        kind="expired",
        by="system",
        now=timezone.now(),
    )
    # when the bank's confirmation arrives late
    _post(api, "promptpay", _event(pending))
    # then the money is on record, the order stays cancelled, a refund is due
    assert _status(pending) == (PaymentStatus.SUCCEEDED, OrderStatus.CANCELLED)
    late = OrderEvent.objects.get(order_id=pending.order_id, kind="payment_after_cancel")
    assert late.data["refund_due"] is True


def test_unknown_reference_and_unknown_provider(api, pending):
    ghost = _post(api, "promptpay", _event(pending, reference="TLNOSUCH"))
    assert ghost.json() == {"status": "ignored"}
    assert api.post(URL.format("paypal"), b"{}", content_type="application/json").status_code == 404
    assert _status(pending) == (PaymentStatus.PENDING, OrderStatus.PENDING_PAYMENT)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "e", "webhook-timestamp": "now", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "e", "webhook-timestamp": "1e999", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "e", "webhook-timestamp": "0", "webhook-signature": "nocomma"},
        {"webhook-id": "e", "webhook-timestamp": "0", "webhook-signature": "v1,%%%"},
    ],
)
def test_hostile_headers_are_a_400(api, pending, headers):
    headers = {**headers}
    if headers.get("webhook-timestamp") == "0":
        headers["webhook-timestamp"] = str(int(datetime.now(UTC).timestamp()))
    extra = _meta(headers)
    response = api.post(URL.format("promptpay"), b"{}", content_type="application/json", **extra)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe not utf-8",
        b"[" * 5000 + b"]" * 5000,
        b'{"type": "payment.succeeded", "data": {"reference": "x", "amount": 1e999999999}}',
        b'"a string"',
        b'{"type": "payment.refunded", "data": {}}',
        b'{"type": "payment.succeeded", "data": {"reference": "\\u0000", "amount": "x"}}',
        b'{"type": "payment.succeeded", "data": {"reference": "TL\\u0000", "amount": "179.00",'
        b' "currency": "THB"}}',
        b'{"type": "payment.succeeded", "data": {"reference": "TL1", "amount": "1e999999999",'
        b' "currency": "THB"}}',
    ],
)
def test_hostile_bodies_correctly_signed_are_a_400(api, pending, payload):
    from standardwebhooks.webhooks import Webhook

    from orders.payments.signing import provider_secret

    now = datetime.now(UTC)
    text = payload.decode("utf-8", "replace") if payload.startswith(b"\xff") else payload.decode()
    signature = Webhook(provider_secret("promptpay")).sign("evt_h", now, text)
    response = api.post(
        URL.format("promptpay"),
        payload,
        content_type="application/json",
        HTTP_WEBHOOK_ID="evt_h",
        HTTP_WEBHOOK_TIMESTAMP=str(int(now.timestamp())),
        HTTP_WEBHOOK_SIGNATURE=signature,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert _status(pending) == (PaymentStatus.PENDING, OrderStatus.PENDING_PAYMENT)


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_twice_at_once_is_applied_once():
    payment = _order()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def deliver() -> None:
        barrier.wait()
        try:
            results.append(_post(APIClient(), "promptpay", _event(payment)).json()["status"])
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["applied", "duplicate"]
    assert OrderEvent.objects.filter(order_id=payment.order_id, kind="paid").count() == 1


def test_the_promptpay_qr_is_the_buyers_alone(client_for, pending, make_user):
    url = f"/api/payments/promptpay/{pending.reference}/qr/"
    buyer = client_for(pending.order.buyer)
    svg = buyer.get(url)
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    png = buyer.get(url + "?image=png")
    assert png.content.startswith(b"\x89PNG")
    assert client_for(make_user()).get(url).status_code == 404
    assert client_for(None).get(url).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_page_pays_through_a_real_signed_webhook(live_server):
    import re
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    payment = _order(PaymentMethod.SANDBOX)
    page = f"{live_server.url}/sandbox/pay/{payment.reference}/"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    html = opener.open(page, timeout=10).read().decode()
    assert "179.00" in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "outcome": "pay"}).encode()
    done = opener.open(
        urllib.request.Request(page, data=form, headers={"Referer": page}), timeout=10
    )
    assert done.status == 200
    assert _status(payment) == (PaymentStatus.SUCCEEDED, OrderStatus.PAID)
    assert WebhookEvent.objects.filter(provider="sandbox").count() == 1


def test_a_signed_event_id_with_a_nul_is_a_400_not_a_database_error(api, pending):
    response = _post(api, "promptpay", _event(pending), event_id="evt\x00")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("method", "setting", "value"),
    [("promptpay", "PROMPTPAY_ID", ""), ("sandbox", "PAYMENT_SANDBOX", False)],
)
def test_a_method_this_deployment_does_not_take_is_refused(db, settings, method, setting, value):
    setattr(settings, setting, value)
    w = world()
    client = APIClient()
    client.force_authenticate(user("nopay"))
    reply = client.post("/api/orders/", body(w, payment_method=method), format="json")
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid"
    assert not Order.objects.exists()
    w["item"].refresh_from_db()
    assert w["item"].left == 10


def test_promptpay_takes_baht_only(db):
    w = world()
    Product = type(w["product"])
    Product.objects.filter(farm=w["farm"]).update(currency="CNY")
    client = APIClient()
    client.force_authenticate(user("yuan"))
    reply = client.post("/api/orders/", body(w, payment_method="promptpay"), format="json")
    assert reply.status_code == 400
    assert reply.json()["error"]["fields"] == {"payment_method": ["PromptPay takes THB only."]}
    assert not Order.objects.exists()
    cod = client.post("/api/orders/", body(w, payment_method="cod"), format="json")
    assert cod.status_code == 201 and cod.json()["currency"] == "CNY"
