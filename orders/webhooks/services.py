"""Webhook endpoints and their deliveries: fan-out from the outbox, sending with retries,
per-order ordering, disabling an endpoint that keeps failing, manual resend.

Each delivery is a row, so nothing is lost when a worker dies: a send holds the row by a
lease (``leased_until``), not by a lock or a transaction, and a lease that outlives its
worker expires, after which beat's sweep (``orders.outbound_sweep``) hands the delivery to
another worker. Receivers may therefore see one event twice and deduplicate on
``webhook-id``; they never miss one while the endpoint is active.

For one endpoint and one order, a delivery waits while an earlier event of that order to
that endpoint is still open (pending, or failed with a retry ahead): events arrive in the
order they happened, and a given-up one lets the next through.
"""

import base64
import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet

from catalog.models import Farm
from orders.outbound import TOPICS
from orders.webhooks.models import (
    OPEN,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orders.webhooks.sending import Outcome, url_check, webhook_body, webhook_post
from server.accounts.models import User
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.outbox.models import OutboxEvent
from server.outbox.services import outbox_write

DISABLED_TOPIC = "webhook_endpoint.disabled"
SWEEP_BATCH = 500


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _may_subscribe(user: User) -> None:
    if not (user.is_staff or user.is_host or Farm.objects.filter(owner=user).exists()):
        raise Forbidden("Webhooks are for sellers and staff.")


def _events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(TOPICS))
    if not events or unknown:
        raise Invalid("Name one or more known events.", fields={"events": list(TOPICS)})
    return [topic for topic in TOPICS if topic in events]


def endpoints_of(*, owner: User) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=owner).order_by("id")


def endpoint_for(*, endpoint_id: int, user: User) -> WebhookEndpoint:
    """The user's own endpoint; ``NotFound`` for anyone else's, staff included."""
    endpoint = endpoints_of(owner=user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def endpoint_create(
    *, owner: User, url: str, events: Sequence[str], description: str, now: datetime
) -> WebhookEndpoint:
    """A seller's (their farms' orders) or staff's (every farm's) endpoint, with a new
    secret. Raises ``Forbidden``, ``Invalid`` (a URL we do not post to, unknown events),
    ``Conflict`` (too many endpoints)."""
    _may_subscribe(owner)
    events = _events(events)
    url_check(url)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner.pk).first()  # one create at a time
        if endpoints_of(owner=owner).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
            raise Conflict(f"At most {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints.")
        return WebhookEndpoint.objects.create(
            owner=owner,
            url=url,
            events=events,
            description=description,
            secret=_secret(),
            created_at=now,
        )


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    now: datetime,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; turning a disabled endpoint back on clears its failures and
    sends what waited for it. Raises ``Invalid``."""
    if url is not None:
        endpoint.url = url_check(url)
    if events is not None:
        endpoint.events = _events(events)
    if description is not None:
        endpoint.description = description
    enabled = is_active is True and not endpoint.is_active
    if is_active is not None:
        endpoint.is_active = is_active
        if is_active:
            endpoint.failures = 0
            endpoint.disabled_reason = ""
        elif not endpoint.disabled_reason:
            endpoint.disabled_reason = "Turned off by its owner."
    with transaction.atomic():
        endpoint.save()
        if enabled:
            keys = (
                WebhookDelivery.objects.filter(endpoint=endpoint, status__in=OPEN)
                .values_list("key", flat=True)
                .distinct()
            )
            for key in list(keys):
                _kick_next(endpoint_id=endpoint.pk, key=key, now=now)
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def deliveries_fan_out(event: OutboxEvent) -> None:
    """Outbox subscriber: a delivery of ``event`` for every active endpoint that wants it
    (the farm's owner's, and staff's). Runs in the relay's transaction."""
    if event.topic not in TOPICS:
        return
    farm_id = event.payload["data"]["order"]["farm"]["id"]
    seller = Farm.objects.filter(pk=farm_id).values_list("owner_id", flat=True).first()
    endpoints = WebhookEndpoint.objects.filter(is_active=True).filter(
        Q(owner_id=seller) | Q(owner__is_staff=True)
    )
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                event=event,
                key=event.key,
                next_attempt_at=event.created_at,
                created_at=event.created_at,
            )
            for endpoint in endpoints
            if event.topic in endpoint.events
        ]
    )
    if rows:
        transaction.on_commit(lambda: _enqueue([row.pk for row in rows]), robust=True)


def _enqueue(ids: Sequence[int], eta: datetime | None = None) -> None:
    from orders.tasks import webhook_deliver  # the tasks module imports this one

    for pk in ids:
        webhook_deliver.apply_async(args=[pk], eta=eta, retry=False)


def _earlier_open(delivery: WebhookDelivery) -> bool:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        key=delivery.key,
        status__in=OPEN,
        event_id__lt=delivery.event_id,
    ).exists()


def _kick_next(*, endpoint_id: int, key: str, now: datetime) -> None:
    """After commit, queue the first open delivery of ``key`` to the endpoint."""
    following = (
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, key=key, status__in=OPEN)
        .order_by("event_id")
        .values_list("pk", "next_attempt_at")
        .first()
    )
    if following is not None:
        pk, due = following
        transaction.on_commit(lambda: _enqueue([pk], eta=due if due > now else None), robust=True)


def retry_delay(tries: int) -> float:
    """Seconds before attempt ``tries + 1``: the schedule's step, with jitter."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE_S
    step = schedule[min(tries, len(schedule)) - 1]
    jitter = settings.WEBHOOK_RETRY_JITTER
    return step * random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 (spread, not secrecy)


def max_attempts() -> int:
    return len(settings.WEBHOOK_RETRY_SCHEDULE_S) + 1


def delivery_attempt(*, delivery_id: int, now: datetime) -> str:
    """Send the delivery once if it is due, open, first of its order and not held by
    another worker; returns its status afterwards, or why nothing was sent (``busy``,
    ``waiting``, ``not_due``, ``inactive``, ``gone``)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            exists = WebhookDelivery.objects.filter(pk=delivery_id).exists()
            return "busy" if exists else "gone"
        if delivery.status not in OPEN:
            return delivery.status
        if not delivery.endpoint.is_active:
            return "inactive"
        if delivery.next_attempt_at > now:
            return "not_due"
        if delivery.leased_until is not None and delivery.leased_until > now:
            return "busy"
        if _earlier_open(delivery):
            return "waiting"
        delivery.leased_until = now + timedelta(seconds=settings.WEBHOOK_LEASE_S)
        delivery.save(update_fields=["leased_until"])
    endpoint, event = delivery.endpoint, delivery.event
    outcome = webhook_post(
        url=endpoint.url,
        secret=endpoint.secret,
        event_id=event.event_id,
        body=webhook_body(event.payload),
        at=now,
    )
    done = now + timedelta(milliseconds=outcome.duration_ms)
    return _record(delivery_id=delivery_id, outcome=outcome, at=now, done=done)


def _record(*, delivery_id: int, outcome: Outcome, at: datetime, done: datetime) -> str:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:  # its endpoint was deleted meanwhile
            return "gone"
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=at,
            response_code=outcome.response_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.excerpt,
        )
        delivery.tries += 1
        delivery.leased_until = None
        if outcome.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = done
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failures__gt=0).update(
                failures=0
            )
        elif delivery.tries >= max_attempts():
            delivery.status = DeliveryStatus.GAVE_UP
            _endpoint_failed(endpoint_id=delivery.endpoint_id, now=done)
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = done + timedelta(seconds=retry_delay(delivery.tries))
        delivery.save()
        if delivery.status in OPEN:
            due = delivery.next_attempt_at
            transaction.on_commit(lambda: _enqueue([delivery_id], eta=due), robust=True)
        else:
            _kick_next(endpoint_id=delivery.endpoint_id, key=delivery.key, now=done)
    return delivery.status


def _endpoint_failed(*, endpoint_id: int, now: datetime) -> None:
    """One more delivery given up; past ``WEBHOOK_DISABLE_AFTER`` in a row the endpoint is
    turned off and its owner told (through the outbox, so only if this commits)."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(failures=F("failures") + 1)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if not endpoint.is_active or endpoint.failures < settings.WEBHOOK_DISABLE_AFTER:
        return
    endpoint.is_active = False
    endpoint.disabled_reason = (
        f"Disabled after {endpoint.failures} deliveries in a row failed every attempt."
    )
    endpoint.save(update_fields=["is_active", "disabled_reason"])
    outbox_write(
        topic=DISABLED_TOPIC,
        key=f"webhook_endpoint:{endpoint.pk}",
        payload={
            "type": DISABLED_TOPIC,
            "timestamp": now.isoformat(),
            "data": {
                "endpoint": {
                    "id": endpoint.pk,
                    "url": endpoint.url,
                    "owner": endpoint.owner_id,
                    "disabled_reason": endpoint.disabled_reason,
                }
            },
        },
        now=now,
    )


def delivery_resend(*, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Send a delivery again from the start of the schedule (same ``webhook-id``, so a
    receiver that has it already can tell). Raises ``Conflict`` while it is being sent or
    its endpoint is off."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .get(pk=delivery.pk)
        )
        if not delivery.endpoint.is_active:
            raise Conflict("The endpoint is disabled; turn it on first.")
        if delivery.leased_until is not None and delivery.leased_until > now:
            raise Conflict("This delivery is being sent right now.")
        delivery.status = DeliveryStatus.PENDING
        delivery.tries = 0
        delivery.next_attempt_at = now
        delivery.save(update_fields=["status", "tries", "next_attempt_at"])
        pk = delivery.pk
        transaction.on_commit(lambda: _enqueue([pk]), robust=True)
    return delivery


def deliveries_due(*, now: datetime) -> list[int]:
    """Open deliveries whose time has come and whose sender (if any) is gone: beat's sweep
    behind the tasks queued at fan-out and after each failure."""
    return list(
        WebhookDelivery.objects.filter(
            status__in=OPEN, next_attempt_at__lte=now, endpoint__is_active=True
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def deliveries_sweep(*, now: datetime) -> int:
    due = deliveries_due(now=now)
    _enqueue(due)
    return len(due)
