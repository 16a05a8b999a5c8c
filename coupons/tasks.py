"""Periodic coupon work (beat): close overdue drops, expire claims, reconcile gates."""

from celery import shared_task
from django.utils import timezone

from coupons.services.drops import drops_close_overdue
from coupons.services.expiry import claims_expire
from coupons.services.reconcile import reconcile_all


@shared_task(name="coupons.close_overdue_drops")
def close_overdue_drops() -> int:
    return drops_close_overdue(now=timezone.now())


@shared_task(name="coupons.expire_claims")
def expire_claims() -> int:
    return claims_expire(now=timezone.now())


@shared_task(name="coupons.reconcile")
def reconcile() -> dict[str, int]:
    return reconcile_all(now=timezone.now())
