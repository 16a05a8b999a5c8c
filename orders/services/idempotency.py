"""``Idempotency-Key``: a retried request gets the first one's answer, never a second order.

As Stripe defines it. The record is inserted, leased to this request, in its own committed
transaction before any work; the work's transaction completes it (the stored answer) only
while this request still holds the lease, so the order and its answer commit together or not
at all. A request whose process was killed leaves a record with no answer: once its lease is
older than the ``ORDER_IDEMPOTENCY_LEASE_S`` setting a retry takes it over (a conditional
update of the lease), and if the original was only slow, its completion finds the lease gone
and its transaction rolls back.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from orders.errors import KeyReused, LeaseLost
from orders.models import IdempotencyRecord
from server.accounts.models import User
from server.errors import Conflict, Invalid

KEY_MAX = 255


@dataclass(frozen=True)
class Lease:
    record_id: int
    token: str


@dataclass(frozen=True)
class Replay:
    status_code: int
    response: Any


def idempotency_key_check(key: str) -> str:
    """1..255 printable ASCII characters, else ``Invalid``."""
    if not 1 <= len(key) <= KEY_MAX or not all(" " <= ch <= "~" for ch in key):
        raise Invalid("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _running() -> Conflict:
    return Conflict("A request with this Idempotency-Key is still running.", retry_after_s=1)


def idempotency_begin(
    *, user: User, key: str, fingerprint: str, now: datetime, _again: bool = True
) -> Lease | Replay:
    """Lease the key to this request, or the stored answer of an earlier one. Raises
    ``KeyReused`` (same key, other request), ``Conflict`` (still running elsewhere)."""
    token = secrets.token_hex(16)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=user, key=key, request_hash=fingerprint, lease=token, leased_at=now,
                created_at=now,
            )  # fmt: skip
        return Lease(record_id=record.pk, token=token)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if record is None:  # abandoned between our insert and our read: try once more
        if _again:
            return idempotency_begin(
                user=user, key=key, fingerprint=fingerprint, now=now, _again=False
            )
        raise _running()
    if record.request_hash != fingerprint:
        raise KeyReused("This Idempotency-Key was used with a different request.")
    if record.status_code is not None:
        return Replay(status_code=record.status_code, response=record.response)
    lease_s = settings.ORDER_IDEMPOTENCY_LEASE_S
    if record.leased_at is not None and record.leased_at > now - timedelta(seconds=lease_s):
        raise _running()
    took = IdempotencyRecord.objects.filter(
        pk=record.pk, status_code__isnull=True, lease=record.lease
    ).update(lease=token, leased_at=now)
    if not took:
        raise _running()
    return Lease(record_id=record.pk, token=token)


def idempotency_complete(*, lease: Lease, status_code: int, response: Any) -> None:
    """Store the answer, inside the work's transaction. Raises ``LeaseLost`` (rolling the
    work back) when a retry took the lease over meanwhile."""
    done = IdempotencyRecord.objects.filter(
        pk=lease.record_id, lease=lease.token, status_code__isnull=True
    ).update(status_code=status_code, response=response)
    if not done:
        raise LeaseLost(
            "A retry of this request took over; its answer is the one kept.", retry_after_s=1
        )


def idempotency_abandon(*, lease: Lease) -> None:
    """The request was refused: forget the key, so a retry runs again."""
    IdempotencyRecord.objects.filter(
        pk=lease.record_id, lease=lease.token, status_code__isnull=True
    ).delete()
