"""Periodic session work (beat): moving live metrics from Redis into PostgreSQL."""

from celery import shared_task
from django.utils import timezone

from streams.metrics_store import sessions_metrics_flush


@shared_task(name="streams.flush_metrics")
def flush_metrics() -> int:
    return sessions_metrics_flush(now=timezone.now())
