"""Order work done by the worker: payment deadlines, reconciling stock gates, the sandbox,
delivered orders becoming final, webhooks out, notifications and sessions' label PDFs."""

from celery import shared_task
from django.utils import timezone

from orders.documents.builds import session_labels_build
from orders.notifications.services import notification_send, notifications_sweep
from orders.payments.sandbox import sandbox_notify
from orders.services.cancelling import order_expire, orders_expire_unpaid
from orders.services.fulfilment import orders_complete_delivered
from orders.services.stock import stock_gates_reconcile
from orders.webhooks.services import deliveries_sweep, delivery_attempt


@shared_task(name="orders.sandbox_notify", ignore_result=True)
def sandbox_notify_later(**kwargs: str) -> None:
    """The sandbox gateway's "pay after the deadline": its webhook, sent from a worker."""
    sandbox_notify(**kwargs)


@shared_task(name="orders.expire_order", ignore_result=True)
def expire_order(order_id: int) -> bool:
    """Scheduled at placement for the order's deadline (a no-op if it was paid meanwhile)."""
    return order_expire(order_id=order_id, now=timezone.now())


@shared_task(name="orders.expire_unpaid")
def expire_unpaid() -> int:
    """Beat's sweep, for deadline tasks lost with a broker or never scheduled."""
    return orders_expire_unpaid(now=timezone.now())


@shared_task(name="orders.reconcile_stock")
def reconcile_stock() -> dict[str, int]:
    return stock_gates_reconcile(now=timezone.now())


@shared_task(name="orders.complete_delivered")
def complete_delivered() -> int:
    """Beat's sweep: delivered orders past ``ORDER_AUTO_COMPLETE_DAYS`` become final."""
    return orders_complete_delivered(now=timezone.now())


# acks_late + reject_on_worker_lost (also the app's defaults, server/settings.py): a worker
# killed mid-send gives the task back; the delivery's lease and beat's sweep cover a worker
# whose whole process died with the message unacknowledged.
@shared_task(name="orders.webhook_deliver", ignore_result=True, acks_late=True,
             reject_on_worker_lost=True)  # fmt: skip
def webhook_deliver(delivery_id: int) -> str:
    return delivery_attempt(delivery_id=delivery_id, now=timezone.now())


@shared_task(name="orders.notify", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def notify(notification_id: int) -> str:
    return notification_send(notification_id=notification_id, now=timezone.now())


@shared_task(name="orders.outbound_sweep")
def outbound_sweep() -> dict[str, int]:
    """Beat's safety net: deliveries and notifications due whose own task was lost."""
    now = timezone.now()
    return {"webhooks": deliveries_sweep(now=now), "notifications": notifications_sweep(now=now)}


@shared_task(name="orders.build_session_labels", ignore_result=True)
def build_session_labels(*, session_id: int, language: str, token: str) -> None:
    """A session's labels PDF, queued by the first request for it (orders.documents.builds)."""
    session_labels_build(session_id=session_id, language=language, token=token)
