"""Orders from placed to completed through a real Celery worker and Redis: paid by the sandbox
gateway's signed webhook, accepted, packed and shipped (a Thailand Post S10 number) by the farm
over the API, delivered by Thailand Post's signed webhook, and made final by the
auto-complete task run on the worker. A partner's endpoint on 127.0.0.1 hears every step of
each order once, in the order it happened, each request signed; buyer and farm get an email
when the order is paid, shipped and delivered."""

import time
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from orders.carriers.s10 import s10_check_digit
from orders.models import Notification, Order, Payment, WebhookDelivery
from orders.outbound import TOPICS
from orders.payments.signing import webhook_sign
from orders.tasks import complete_delivered
from orders.webhooks.services import endpoint_create
from tests.integration.order_world import place_live, user, world
from tests.integration.test_celery_worker import worker_process
from tests.integration.webhook_receiver import receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIFE = [
    "order.created", "order.paid", "order.accepted", "order.packed", "shipment.created",
    "shipment.delivered", "order.completed",
]  # fmt: skip
# Topics buyer and farm are emailed about, and the status the order is in right after each.
EMAILED = {"order.paid": "paid", "shipment.created": "shipped", "shipment.delivered": "delivered"}


def _until(check, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _signed_post(url: str, provider: str, event_id: str, payload: dict, secrets=None):
    body, headers = webhook_sign(provider=provider, event_id=event_id, payload=payload,
                                 secrets=secrets)  # fmt: skip
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return APIClient().post(url, body, content_type="application/json", **extra)


def _pay(order: Order) -> None:
    """The sandbox gateway confirms the card payment, as its hosted page would."""
    payment = Payment.objects.get(order=order)
    reply = _signed_post(
        f"/api/payments/webhook/{payment.provider}/", payment.provider, f"evt_pay_{order.pk}",
        {"type": "payment.succeeded", "data": {"reference": payment.reference,
                                               "amount": str(payment.amount),
                                               "currency": payment.currency}},
    )  # fmt: skip
    assert reply.json() == {"status": "applied"}, reply.content


def _scans(number: str, *codes: str) -> dict:
    now = timezone.now()
    return {"items": [
        {"barcode": number, "status": code, "status_date": (now - timedelta(minutes=len(codes) - i))
         .isoformat(), "location": "Nan", "status_description": ""}
        for i, code in enumerate(codes)
    ]}  # fmt: skip


def _emails(folder: Path) -> list:
    """Every message the file backend wrote (one file per connection, messages divided by a
    line of dashes)."""
    messages = []
    for path in sorted(folder.iterdir()):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(message_from_bytes(chunk.lstrip()))
    return messages


def test_orders_from_placed_to_completed_through_the_worker(settings, tmp_path):
    # given a farm with a partner endpoint for every topic, and two buyers with email
    w = world()
    host = w["host"]
    buyers = [user("buyer1"), user("buyer2")]
    people = {host.pk: "farm@example.com", **{b.pk: f"{b.username}@example.com" for b in buyers}}
    for pk, email in people.items():
        type(host).objects.filter(pk=pk).update(email=email, language="en")
    env = {
        "WEBHOOK_RETRY_SCHEDULE_S": "0.3,0.3",
        "WEBHOOK_RETRY_JITTER": "0",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path),
        # The worker's clock makes a delivered order due for completion at once.
        "ORDER_AUTO_COMPLETE_DAYS": "0",
    }
    farm = APIClient()
    farm.force_authenticate(host)
    with receiver([200]) as hook, worker_process(settings, env=env):
        endpoint = endpoint_create(owner=host, url=hook.url, events=list(TOPICS),
                                   description="shop", now=timezone.now())  # fmt: skip
        # when both orders go down the line, step by step in turns
        orders = [place_live(b, w, method="sandbox") for b in buyers]
        assert [o.status for o in orders] == ["pending_payment"] * 2
        for order in orders:
            _pay(order)
        for verb in ("accept", "pack"):
            for order in orders:
                reply = farm.post(f"/api/orders/{order.pk}/{verb}/")
                assert reply.status_code == 200, reply.content
        numbers = {o.pk: f"EE{o.pk:08d}{s10_check_digit(f'{o.pk:08d}')}TH" for o in orders}
        for order in orders:
            ship = {"carrier": "thailandpost", "tracking_number": numbers[order.pk]}
            reply = farm.post(f"/api/orders/{order.pk}/ship/", ship, format="json")
            assert reply.status_code == 200, reply.content
            assert reply.json()["status"] == "shipped"
        for order in orders:
            reply = _signed_post(
                "/api/shipments/webhook/thailandpost/", "thailandpost", f"tp_{order.pk}",
                _scans(numbers[order.pk], "103", "201", "501"),
                secrets=django_settings.CARRIER_WEBHOOK_SECRETS,
            )  # fmt: skip
            assert reply.json() == {"status": "applied"}, reply.content
        assert set(Order.objects.values_list("status", flat=True)) == {"delivered"}
        assert complete_delivered.delay().get(timeout=60) == 2
        # then every event reaches the partner and every email goes out
        _until(lambda: WebhookDelivery.objects.filter(status="delivered").count() == 14,
               what="the partner's 14 deliveries")  # fmt: skip
        _until(lambda: Notification.objects.filter(status="sent").count() == 12,
               what="12 emails")  # fmt: skip
    assert set(Order.objects.values_list("status", flat=True)) == {"completed"}
    # each request signed with the endpoint's secret, each event once
    hooks = Webhook(endpoint.secret)
    events = [hooks.verify(got.body, got.headers) for got in hook.received]
    assert len(set(hook.ids())) == len(hook.received) == 14
    for order in orders:
        mine = [e for e in events if e["data"]["order"]["id"] == order.pk]
        # in the order they happened, each body showing the order just after its step
        assert [e["type"] for e in mine] == LIFE
        assert [e["data"]["order"]["status"] for e in mine] == [
            "pending_payment", "paid", "accepted", "packed", "shipped", "delivered", "completed"
        ]  # fmt: skip
        shipped, arrived = mine[4]["data"]["shipment"], mine[5]["data"]["shipment"]
        assert shipped["tracking_number"] == numbers[order.pk]
        assert shipped["carrier_name"] == "Thailand Post" and shipped["status"] == "shipped"
        assert arrived["status"] == "delivered" and arrived["delivered_at"] is not None
        assert [e["kind"] for e in arrived["events"]] == ["picked_up", "in_transit", "delivered"]
        assert "payment" not in mine[1]["data"]["order"]  # the buyer's QR stays private
    # buyer and farm emailed once for each of paid, shipped, delivered of each order
    sent = Notification.objects.select_related("event", "user")
    got = sorted((n.event.payload["data"]["order"]["id"], n.event.topic, n.user.email)
                 for n in sent)  # fmt: skip
    assert got == sorted(
        (o.pk, topic, who)
        for o in orders
        for topic in EMAILED
        for who in ("farm@example.com", f"{o.buyer.username}@example.com")
    )
    mails = _emails(tmp_path)
    assert len(mails) == 12
    by_id = {m["Message-ID"].strip().strip("<>").partition("@")[0]: m for m in mails}
    for n in sent:
        mail = by_id[f"notification-{n.pk}.{n.event.event_id}"]
        order_id = n.event.payload["data"]["order"]["id"]
        assert mail["To"] == n.user.email
        assert f"#{order_id}" in mail["Subject"]
        if n.event.topic == "shipment.created":
            assert numbers[order_id] in mail.get_payload(decode=True).decode()
