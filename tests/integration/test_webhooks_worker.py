"""Webhooks and notifications through real Celery workers and Redis: the commit queues the
relay, the relay queues deliveries, retries are tasks with an eta, and beat's sweep picks up
what a killed worker left."""

import os
import signal
import threading
import time
from email import message_from_bytes
from pathlib import Path

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from orders.models import WebhookDelivery, WebhookEndpoint
from orders.services.placing import order_place
from orders.webhooks.services import endpoint_create
from tests.integration.order_world import ADDRESS, user, world
from tests.integration.test_celery_worker import worker_process
from tests.integration.webhook_receiver import receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST = {
    "WEBHOOK_RETRY_SCHEDULE_S": "0.3,0.3",
    "WEBHOOK_RETRY_JITTER": "0",
    "WEBHOOK_CONNECT_TIMEOUT_S": "2",
    "WEBHOOK_READ_TIMEOUT_S": "20",
    "WEBHOOK_ALLOW_PRIVATE": "true",
}


def _until(check, seconds: float = 40, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _place(w: dict, buyer):
    return order_place(
        buyer=buyer, session=w["session"].pk, items=[{"product": w["product"].pk, "qty": 1}],
        claim=None, address=ADDRESS, payment_method="promptpay", now=timezone.now(),
    )  # fmt: skip


def _endpoint(owner, url: str):
    return endpoint_create(
        owner=owner, url=url, events=["order.created", "order.cancelled"], description="",
        now=timezone.now(),
    )  # fmt: skip


def test_a_receiver_failing_twice_gets_the_event_once_with_three_attempts(settings):
    w = world()
    with receiver([500, 500, 200]) as hook, worker_process(settings, env=FAST):
        endpoint = _endpoint(w["host"], hook.url)
        order = _place(w, user("buyer"))
        _until(
            lambda: WebhookDelivery.objects.filter(status="delivered").exists(), what="delivery"
        )
    delivery = WebhookDelivery.objects.get()
    assert [a.response_code for a in delivery.attempts.all()] == [500, 500, 200]
    assert len(hook.received) == 3 and len(set(hook.ids())) == 1
    for got in hook.received:
        event = Webhook(endpoint.secret).verify(got.body, got.headers)
        assert event["type"] == "order.created" and event["data"]["order"]["id"] == order.pk


def test_events_of_one_order_arrive_in_order_through_the_worker(settings):
    from orders.services.cancelling import order_cancel

    w = world()
    with receiver([500, 500, 200]) as hook, worker_process(settings, env=FAST):
        _endpoint(w["host"], hook.url)
        buyer = user("buyer")
        order = _place(w, buyer)
        order_cancel(order_id=order.pk, actor=buyer, now=timezone.now())
        _until(
            lambda: WebhookDelivery.objects.filter(status="delivered").count() == 2,
            what="both deliveries",
        )
    assert hook.types() == ["order.created"] * 3 + ["order.cancelled"]


def test_a_worker_killed_mid_delivery_is_made_good_by_the_next_worker(settings):
    # given a receiver that holds the first request until the worker sending it is dead
    killed = threading.Event()
    w = world()

    def hold_first(n: int) -> None:
        if n == 0:
            killed.wait(60)

    with receiver([200], before_answer=hold_first) as hook:
        endpoint = _endpoint(w["host"], hook.url)
        env = {**FAST, "WEBHOOK_LEASE_S": "3", "OUTBOUND_SWEEP_S": "1", "OUTBOX_SWEEP_S": "1"}
        with worker_process(settings, env=env) as first:
            _place(w, user("buyer"))
            _until(lambda: len(hook.received) == 1, what="the first request")
            # when the worker is killed mid-request
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        killed.set()
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "pending" and delivery.leased_until is not None
        # then a new worker (with beat's sweep) delivers it once the dead one's lease ends
        with worker_process(settings, env=env, beat=True):
            _until(lambda: len(hook.received) == 2, what="the redelivery")
            _until(
                lambda: WebhookDelivery.objects.filter(status="delivered").exists(),
                what="delivered",
            )
    # and the receiver can tell it is the same event
    assert len(set(hook.ids())) == 1
    assert hook.received[0].body == hook.received[1].body
    for got in hook.received:
        Webhook(endpoint.secret).verify(got.body, got.headers)


def test_an_endpoint_that_keeps_failing_is_disabled_and_its_owner_emailed(settings, tmp_path):
    # given an endpoint that always fails, disabled after two given-up deliveries
    w = world()
    type(w["host"]).objects.filter(pk=w["host"].pk).update(email="farm@example.com")
    env = {
        **FAST,
        "WEBHOOK_RETRY_SCHEDULE_S": "0.2",
        "WEBHOOK_DISABLE_AFTER": "2",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path),
    }
    with receiver([500]) as hook, worker_process(settings, env=env):
        endpoint = _endpoint(w["host"], hook.url)
        _place(w, user("buyer1"))
        _place(w, user("buyer2"))
        # when both deliveries give up
        _until(lambda: any(Path(tmp_path).iterdir()), what="the owner's email")
        endpoint.refresh_from_db()
        # then the endpoint is off, and a later order is not sent to it
        assert endpoint.is_active is False
        assert "2 deliveries" in endpoint.disabled_reason
        assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["gave_up"] * 2
        _place(w, user("buyer3"))
        time.sleep(2)
    assert WebhookDelivery.objects.count() == 2
    assert len(hook.received) == 4  # two attempts each
    (sent,) = [message_from_bytes(p.read_bytes()) for p in Path(tmp_path).iterdir()]
    assert sent["To"] == "farm@example.com"
    assert "disabled" in sent["Subject"]
    assert endpoint.url in sent.get_payload(decode=True).decode()
    assert WebhookEndpoint.objects.get().failures == 2
