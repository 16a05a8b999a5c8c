"""Order work done by the worker."""

from celery import shared_task

from orders.payments.sandbox import sandbox_notify


@shared_task(name="orders.sandbox_notify", ignore_result=True)
def sandbox_notify_later(**kwargs: str) -> None:
    """The sandbox gateway's "pay after the deadline": its webhook, sent from a worker."""
    sandbox_notify(**kwargs)
