"""Outbox, outbound webhooks and notifications, in the test's own process: the relay and a
delivery attempt are called as a worker calls them (the worker itself runs in
test_webhooks_worker.py), against a receiver on 127.0.0.1."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orders.models import Notification, Order, WebhookDelivery, WebhookEndpoint
from orders.notifications.services import notification_send
from orders.outbound import order_event
from orders.services.payments import payment_event_apply
from orders.webhooks.services import delivery_attempt, endpoint_create
from server.outbox.models import OutboxEvent
from server.outbox.services import outbox_relay
from tests.integration.order_world import ADDRESS, user, world
from tests.integration.webhook_receiver import receiver

pytestmark = pytest.mark.django_db(transaction=True)


def _place(w: dict, buyer, method: str = "promptpay") -> Order:
    from orders.services.placing import order_place

    return order_place(
        buyer=buyer, session=w["session"].pk, items=[{"product": w["product"].pk, "qty": 2}],
        claim=None, address=ADDRESS, payment_method=method, now=timezone.now(),
    )  # fmt: skip


def _endpoint(owner, url: str, events=("order.created", "order.paid", "order.cancelled")):
    return endpoint_create(
        owner=owner, url=url, events=list(events), description="erp", now=timezone.now()
    )


def _send_all(now=None) -> list[str]:
    """What a worker does with every open delivery, once."""
    now = now or timezone.now()
    return [
        delivery_attempt(delivery_id=pk, now=now)
        for pk in WebhookDelivery.objects.order_by("event_id").values_list("pk", flat=True)
    ]


def test_a_rolled_back_transaction_sends_nothing():
    # given a seller with an endpoint
    w = world()
    with receiver([200]) as hook:
        _endpoint(w["host"], hook.url)
        # when an order is placed inside a transaction that then rolls back
        with pytest.raises(RuntimeError), transaction.atomic():
            _place(w, user("buyer"))
            assert OutboxEvent.objects.count() == 1  # written in the transaction...
            raise RuntimeError("the change fails after the event was written")
        relayed = outbox_relay(now=timezone.now())
        # then no event exists, nothing was fanned out and nobody was called
        assert relayed == 0
        assert OutboxEvent.objects.count() == 0
        assert WebhookDelivery.objects.count() == 0
        assert hook.received == []


def test_the_event_is_signed_as_standard_webhooks_defines_and_trimmed():
    # given
    w = world()
    with receiver([200]) as hook:
        endpoint = _endpoint(w["host"], hook.url)
        order = _place(w, user("buyer"))
        # when
        assert outbox_relay(now=timezone.now()) == 1
        assert _send_all() == ["delivered"]
    # then the partner verifies it with the secret it was shown once
    (got,) = hook.received
    event = OutboxEvent.objects.get()
    verified = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert got.headers["webhook-id"] == event.event_id
    assert verified["type"] == "order.created"
    order_json = verified["data"]["order"]
    assert order_json["id"] == order.pk
    assert order_json["status"] == "pending_payment"
    assert order_json["farm"] == {"id": w["farm"].pk, "name": "Ban Rai"}
    assert [(line["qty"], line["unit_price"]) for line in order_json["lines"]] == [(2, "80.00")]
    assert order_json["total"] == "160.00"
    assert "payment" not in order_json and "actions" not in order_json
    # and a tampered body or another secret does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(got.body.replace(b"160.00", b"1.00"), got.headers)
    other = _endpoint(w["host"], hook.url)
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(got.body, got.headers)


def test_retries_follow_the_schedule_and_log_every_attempt(settings):
    # given a receiver that fails twice
    settings.WEBHOOK_RETRY_SCHEDULE_S = [60, 600]
    settings.WEBHOOK_RETRY_JITTER = 0
    w = world()
    with receiver([500, 503, 200]) as hook:
        _endpoint(w["host"], hook.url)
        _place(w, user("buyer"))
        outbox_relay(now=timezone.now())
        t0 = timezone.now()
        # when the worker tries, before and after each retry is due
        assert _send_all(t0) == ["failed"]
        delivery = WebhookDelivery.objects.get()
        assert 60 <= (delivery.next_attempt_at - t0).total_seconds() < 61
        assert _send_all(t0 + timedelta(seconds=30)) == ["not_due"]
        assert _send_all(t0 + timedelta(seconds=61)) == ["failed"]
        assert _send_all(t0 + timedelta(seconds=700)) == ["delivered"]
        assert _send_all(t0 + timedelta(seconds=800)) == ["delivered"]  # nothing more
    # then
    delivery.refresh_from_db()
    assert [a.response_code for a in delivery.attempts.all()] == [500, 503, 200]
    assert [a.error for a in delivery.attempts.all()] == ["HTTP 500", "HTTP 503", ""]
    assert len(delivery.attempts.first().response_excerpt) <= 300
    assert len(set(hook.ids())) == 1 and len(hook.received) == 3


def test_a_later_event_of_an_order_waits_for_the_earlier_one():
    # given an order created then cancelled while its first delivery keeps failing
    w = world()
    with receiver([500, 200]) as hook:
        _endpoint(w["host"], hook.url)
        buyer = user("buyer")
        order = _place(w, buyer)
        from orders.services.cancelling import order_cancel

        order_cancel(order_id=order.pk, actor=buyer, now=timezone.now())
        outbox_relay(now=timezone.now())
        created, cancelled = WebhookDelivery.objects.order_by("event_id")
        later = timezone.now() + timedelta(hours=1)
        # when the worker reaches the later one first
        assert delivery_attempt(delivery_id=created.pk, now=timezone.now()) == "failed"
        assert delivery_attempt(delivery_id=cancelled.pk, now=later) == "waiting"
        assert delivery_attempt(delivery_id=created.pk, now=later) == "delivered"
        assert delivery_attempt(delivery_id=cancelled.pk, now=later) == "delivered"
    # then the receiver heard them in the order they happened
    assert hook.types() == ["order.created", "order.created", "order.cancelled"]
    assert hook.received[-1].event["data"] == {
        "reason": "buyer", "order": hook.received[-1].event["data"]["order"]
    }  # fmt: skip
    assert hook.received[-1].event["data"]["order"]["status"] == "cancelled"


def test_endpoints_are_for_sellers_and_staff_and_their_own_eyes(client_for, make_user):
    # given two sellers with farms, and a plain viewer
    w = world()
    other_host = user("otherhost", "host")
    viewer = make_user("viewer")
    mine = client_for(w["host"])
    body = {"url": "http://127.0.0.1:9/hook", "events": ["order.paid"], "description": "erp"}
    # when the seller creates one
    created = mine.post("/api/webhook-endpoints/", body, format="json")
    # then the secret is shown once
    assert created.status_code == 201, created.json()
    assert created.json()["secret"].startswith("whsec_")
    pk = created.json()["id"]
    assert "secret" not in mine.get(f"/api/webhook-endpoints/{pk}/").json()
    assert [e["id"] for e in mine.get("/api/webhook-endpoints/").json()] == [pk]
    # and nobody else sees, changes, resends or deletes it
    theirs = client_for(other_host)
    assert theirs.get("/api/webhook-endpoints/").json() == []
    for method, path in [
        ("get", f"/api/webhook-endpoints/{pk}/"),
        ("patch", f"/api/webhook-endpoints/{pk}/"),
        ("delete", f"/api/webhook-endpoints/{pk}/"),
        ("get", f"/api/webhook-endpoints/{pk}/deliveries/"),
        ("post", f"/api/webhook-endpoints/{pk}/deliveries/1/resend/"),
    ]:
        answer = getattr(theirs, method)(path, {"is_active": False}, format="json")
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"]["code"] == "not_found"
    assert WebhookEndpoint.objects.get(pk=pk).is_active is True
    # a viewer without a farm may not subscribe at all; anonymous callers are asked to log in
    refused = client_for(viewer).post("/api/webhook-endpoints/", body, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client_for(None).get("/api/webhook-endpoints/").status_code == 401
    # unknown events and hostile ids are 4xx
    bad = mine.post("/api/webhook-endpoints/", {**body, "events": ["order.eaten"]}, format="json")
    assert bad.status_code == 400
    assert mine.get("/api/webhook-endpoints/99999999999999999999/").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://100.64.0.1/hook",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
        "http:///nohost",
    ],
)
def test_private_addresses_are_refused_unless_allowed(client_for, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    w = world()
    answer = client_for(w["host"]).post(
        "/api/webhook-endpoints/", {"url": url, "events": ["order.paid"]}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
    assert WebhookEndpoint.objects.count() == 0


def test_a_send_to_a_now_private_address_is_refused_before_connecting(settings):
    # given an endpoint saved while private addresses were allowed
    w = world()
    with receiver([200]) as hook:
        _endpoint(w["host"], hook.url)
        _place(w, user("buyer"))
        outbox_relay(now=timezone.now())
        # when the deployment stops allowing them
        settings.WEBHOOK_ALLOW_PRIVATE = False
        assert _send_all() == ["failed"]
    # then nothing reached the address, and the attempt says why
    assert hook.received == []
    attempt = WebhookDelivery.objects.get().attempts.get()
    assert attempt.response_code is None
    assert attempt.error == "Webhook URLs must reach a public address."


def test_resend_sends_the_same_event_again(client_for):
    w = world()
    with receiver([200]) as hook:
        endpoint = _endpoint(w["host"], hook.url)
        _place(w, user("buyer"))
        outbox_relay(now=timezone.now())
        assert _send_all() == ["delivered"]
        api = client_for(w["host"])
        listed = api.get(f"/api/webhook-endpoints/{endpoint.pk}/deliveries/").json()
        (delivery,) = listed
        assert delivery["status"] == "delivered" and delivery["topic"] == "order.created"
        assert [a["response_code"] for a in delivery["attempts"]] == [200]
        # when the owner asks for it again
        answer = api.post(
            f"/api/webhook-endpoints/{endpoint.pk}/deliveries/{delivery['id']}/resend/"
        )
        assert answer.status_code == 202 and answer.json()["status"] == "pending"
        assert _send_all() == ["delivered"]
    # then the receiver got the same webhook-id twice and can tell
    assert len(hook.received) == 2 and len(set(hook.ids())) == 1
    again = api.get(f"/api/webhook-endpoints/{endpoint.pk}/deliveries/?status=delivered").json()
    assert len(again[0]["attempts"]) == 2


def test_buyer_and_seller_are_emailed_in_their_own_language():
    # given a Thai-speaking buyer and an English-speaking seller with email addresses
    w = world()
    buyer = user("somsri")
    type(buyer).objects.filter(pk=buyer.pk).update(language="th", email="somsri@example.com")
    type(buyer).objects.filter(pk=w["host"].pk).update(email="farm@example.com")
    order = _place(w, buyer)
    payment = order.payments.get()
    # when the payment arrives and the outbox is relayed and sent
    payment_event_apply(
        provider="promptpay",
        event={
            "id": "evt_pay_1",
            "type": "payment.succeeded",
            "data": {"reference": payment.reference, "amount": "160.00", "currency": "THB"},
        },
        now=timezone.now(),
    )
    assert OutboxEvent.objects.filter(topic="order.paid").count() == 1
    outbox_relay(now=timezone.now())
    notes = Notification.objects.order_by("role")
    assert [(n.role, n.channel) for n in notes] == [("buyer", "email"), ("seller", "email")]
    mail.outbox.clear()
    for note in notes:
        assert notification_send(notification_id=note.pk, now=timezone.now()) == "sent"
    # then each got one email, in their language (Django's own Thai month names)
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {"somsri@example.com", "farm@example.com"}
    thai, english = by_address["somsri@example.com"], by_address["farm@example.com"]
    assert thai.extra_headers["Content-Language"] == "th"
    assert english.extra_headers["Content-Language"] == "en"
    month = timezone.localtime(order.created_at, timezone.get_fixed_timezone(420)).month
    from django.utils import dates, translation

    with translation.override("th"):
        thai_month = str(dates.MONTHS[month])
    assert thai_month in thai.body and thai_month not in english.body
    assert str(dates.MONTHS_AP[month]) in english.body  # "Nov." in English
    assert f"#{order.pk}" in thai.subject and "pack" in english.subject
    assert "160.00 THB" in thai.body
    # and a second run of the same notification sends nothing more
    assert notification_send(notification_id=notes[0].pk, now=timezone.now()) == "sent"
    assert len(mail.outbox) == 2


def test_a_user_without_an_address_is_skipped_not_retried():
    w = world()
    order = _place(w, user("noemail"), method="cod")
    with transaction.atomic():
        order_event(order=order, topic="order.cancelled", now=timezone.now())
    outbox_relay(now=timezone.now())
    statuses = {
        notification_send(notification_id=n.pk, now=timezone.now())
        for n in Notification.objects.all()
    }
    assert statuses == {"skipped"}
    assert mail.outbox == []


def test_register_keeps_the_request_language(api):
    answer = api.post(
        "/api/auth/register/",
        {"username": "nok", "password": "a-Strong-passw0rd"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="th",
    )
    assert answer.status_code == 201
    from server.accounts.models import User

    assert User.objects.get(username="nok").language == "th"
    plain = api.post(
        "/api/auth/register/", {"username": "jo", "password": "a-Strong-passw0rd"}, format="json"
    )
    assert plain.status_code == 201
    assert User.objects.get(username="jo").language == "en"


def test_order_event_refuses_outside_a_transaction_and_unknown_topics():
    w = world()
    order = _place(w, user("buyer"))
    with pytest.raises(RuntimeError):
        order_event(order=order, topic="order.created", now=timezone.now())
    with pytest.raises(ValueError), transaction.atomic():
        order_event(order=order, topic="order.eaten", now=timezone.now())
