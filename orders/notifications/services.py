"""Notifications: the buyer and the seller hear when an order is paid, shipped, delivered
or cancelled; a webhook endpoint's owner hears when it is disabled.

They come from the outbox like webhooks do (``notifications_fan_out`` is its subscriber), so
a rolled-back change tells nobody. Each (event, user, channel) is one row, sent by a worker
under a lease with a few retries; a crash between sending and recording may send one
message twice, never none (the email's Message-ID is the row's, so mail clients fold it).
Messages are written in the recipient's language (``User.language``) and show times in
``DISPLAY_TIME_ZONE``.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import Farm
from orders.notifications.models import Notification, NotificationStatus
from orders.webhooks.services import DISABLED_TOPIC
from server.accounts.models import User
from server.notify import Message, channels, channels_enabled
from server.outbox.models import OutboxEvent

SWEEP_BATCH = 500
LEASE_S = 120
RETRY_BASE_S = 30

# (what the buyer reads, what the seller reads); %(id)s is the order's number.
SUBJECTS = {
    "order.paid": (
        gettext_lazy("Order #%(id)s is paid"),
        gettext_lazy("Order #%(id)s is paid: please pack it"),
    ),
    "shipment.created": (
        gettext_lazy("Order #%(id)s is on its way"),
        gettext_lazy("Order #%(id)s has shipped"),
    ),
    "shipment.delivered": (
        gettext_lazy("Order #%(id)s was delivered"),
        gettext_lazy("Order #%(id)s was delivered to the buyer"),
    ),
    "order.cancelled": (
        gettext_lazy("Order #%(id)s was cancelled"),
        gettext_lazy("Order #%(id)s was cancelled"),
    ),
}
LEADS = {
    "order.paid": (
        gettext_lazy("We received your payment. %(farm)s will pack your order next."),
        gettext_lazy("The buyer has paid. Please pack the order and ship it."),
    ),
    "shipment.created": (
        gettext_lazy("%(farm)s has sent your order."),
        gettext_lazy("The order is on its way to the buyer."),
    ),
    "shipment.delivered": (
        gettext_lazy("Your order has been delivered. Enjoy it!"),
        gettext_lazy("The order reached the buyer."),
    ),
    "order.cancelled": (
        gettext_lazy("Your order was cancelled. Anything you paid will be refunded."),
        gettext_lazy("The order was cancelled; its stock is back on sale."),
    ),
}


def notifications_fan_out(event: OutboxEvent) -> None:
    """Outbox subscriber: one notification per recipient and configured channel."""
    if event.topic in SUBJECTS:
        order = event.payload["data"]["order"]
        seller = Farm.objects.filter(pk=order["farm"]["id"]).values_list("owner_id", flat=True)
        recipients = {order["buyer"]: "buyer"}
        for owner in seller:
            recipients.setdefault(owner, "seller")
    elif event.topic == DISABLED_TOPIC:
        recipients = {event.payload["data"]["endpoint"]["owner"]: "owner"}
    else:
        return
    rows = Notification.objects.bulk_create(
        [
            Notification(
                event=event,
                user_id=user,
                role=role,
                channel=channel.name,
                next_attempt_at=event.created_at,
                created_at=event.created_at,
            )
            for user, role in recipients.items()
            for channel in channels_enabled()
        ]
    )
    if rows:
        transaction.on_commit(lambda: _enqueue([row.pk for row in rows]), robust=True)


def _enqueue(ids: list[int], eta: datetime | None = None) -> None:
    from orders.tasks import notify  # the tasks module imports this one

    for pk in ids:
        notify.apply_async(args=[pk], eta=eta, retry=False)


def notification_message(notification: Notification) -> Message:
    """The message as its recipient reads it: their language, local times."""
    user: User = notification.user
    event = notification.event
    data = event.payload["data"]
    with translation.override(user.language), timezone.override(settings.DISPLAY_TIME_ZONE):
        context: dict[str, Any] = {"user": user, "name": str(user), "role": notification.role}
        if event.topic == DISABLED_TOPIC:
            subject = _("Your webhook endpoint was disabled")
            context["endpoint"] = data["endpoint"]
            body = render_to_string("orders/notifications/webhook_disabled.txt", context)
        else:
            order = data["order"]
            side = 0 if notification.role == "buyer" else 1
            subject = SUBJECTS[event.topic][side] % {"id": order["id"]}
            shipments = order.get("shipments") or []
            context |= {
                "order": order,
                "lead": LEADS[event.topic][side] % {"farm": order["farm"]["name"]},
                "placed": parse_datetime(order["created_at"] or ""),
                "shipment": data.get("shipment") or (shipments[-1] if shipments else None),
                "reason": data.get("reason", ""),
            }
            body = render_to_string("orders/notifications/order.txt", context)
        language = translation.get_language()
    return Message(
        subject=subject,
        body=body,
        language=language,
        ref=f"notification-{notification.pk}.{event.event_id}",
    )


def notification_send(*, notification_id: int, now: datetime) -> str:
    """Send it once if due and not held by another worker; returns the status after, or why
    nothing was sent (``busy``, ``not_due``, ``gone``)."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "event")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return "busy" if Notification.objects.filter(pk=notification_id).exists() else "gone"
        if notification.status != NotificationStatus.PENDING:
            return notification.status
        if notification.next_attempt_at > now:
            return "not_due"
        if notification.leased_until is not None and notification.leased_until > now:
            return "busy"
        notification.leased_until = now + timedelta(seconds=LEASE_S)
        notification.save(update_fields=["leased_until"])
    channel = channels.get(notification.channel)
    address = channel.address(notification.user) if channel is not None else None
    error = ""
    if address is None:
        status = NotificationStatus.SKIPPED
        error = "no such channel" if channel is None else "the user has no address there"
    else:
        try:
            channel.send(address=address, message=notification_message(notification))
            status = NotificationStatus.SENT
        except Exception as exc:  # any channel's failure is a failed attempt, retried
            error = f"{type(exc).__name__}: {exc}"[:300]
            status = NotificationStatus.PENDING
    tries = notification.tries + 1
    if status == NotificationStatus.PENDING and tries >= settings.NOTIFICATION_MAX_ATTEMPTS:
        status = NotificationStatus.FAILED
    retry_at = now + timedelta(seconds=RETRY_BASE_S * 2**tries)
    Notification.objects.filter(pk=notification_id).update(
        status=status,
        tries=tries,
        error=error,
        leased_until=None,
        sent_at=now if status == NotificationStatus.SENT else None,
        next_attempt_at=retry_at,
    )
    if status == NotificationStatus.PENDING:
        _enqueue([notification_id], eta=retry_at)
    return status


def notifications_sweep(*, now: datetime) -> int:
    """Beat's sweep behind each notification's own task (lost task, killed worker)."""
    due = list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
        .exclude(leased_until__gt=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    _enqueue(due)
    return len(due)
