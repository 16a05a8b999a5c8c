"""The outbox relay, queued after each commit that wrote events and swept by beat."""

from celery import shared_task
from django.utils import timezone

from server.outbox.services import outbox_relay


@shared_task(name="outbox.relay", ignore_result=True)
def relay() -> int:
    return outbox_relay(now=timezone.now())
