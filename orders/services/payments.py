"""Payments: opening one for a new order, and applying what a provider's webhook says.

A provider may send an event twice, late, or out of order. Each event is acted on once (a
``WebhookEvent`` row per provider event id), the payment row is locked while one is applied,
and ``succeeded`` is final: a ``failed`` arriving after it changes nothing, nor does a second
``succeeded`` after the money went back, a ``succeeded``
after a ``failed`` (the buyer tried again) wins. Money that arrives for an order already
cancelled is recorded and flagged for refund; the order does not come back to life.
"""

import logging
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db import IntegrityError, transaction
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from orders.models import (
    Order,
    OrderEvent,
    Payment,
    PaymentMethod,
    PaymentStatus,
    WebhookEvent,
)
from orders.services.transitions import order_transition
from server.errors import Invalid

log = logging.getLogger(__name__)


def payment_open(*, order: Order, now: datetime) -> Payment | None:
    """The pending payment the buyer must make, or None for cash on delivery (paid to the
    courier, recorded at delivery)."""
    if order.payment_method == PaymentMethod.COD:
        return None
    return Payment.objects.create(
        order=order,
        provider=order.payment_method,
        amount=order.total,
        currency=order.currency,
        reference="TL" + secrets.token_hex(8).upper(),
        created_at=now,
    )


# What ids look like: no NUL, no control characters (PostgreSQL refuses NUL in text).
_ID = r"^[A-Za-z0-9_.:-]{1,100}$"


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reference: Annotated[str, StringConstraints(pattern=_ID, max_length=64)]
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class PaymentEvent(BaseModel):
    """What we read from a provider's event; providers may send more fields."""

    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, StringConstraints(pattern=_ID)]
    type: Literal["payment.succeeded", "payment.failed"]
    data: _EventData


Outcome = Literal["applied", "duplicate", "ignored"]


def payment_event_apply(*, provider: str, event: dict[str, Any], now: datetime) -> Outcome:
    """Act on a verified provider event once. Raises ``Invalid`` for an event we cannot read
    (the provider should not retry it); unknown references are ``ignored``."""
    try:
        parsed = PaymentEvent.model_validate(event)
    except ValidationError:
        raise Invalid("The webhook's event is not one we understand.") from None
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(provider=provider, event_id=parsed.id, received_at=now)
        except IntegrityError:
            return "duplicate"
        payment = (
            Payment.objects.select_for_update()
            .filter(provider=provider, reference=parsed.data.reference)
            .first()
        )
        if payment is None:
            log.warning("%s webhook for unknown payment %s", provider, parsed.data.reference)
            return "ignored"
        if parsed.type == "payment.succeeded":
            return _succeeded(payment, parsed, now)
        if payment.status == PaymentStatus.PENDING:
            payment.status = PaymentStatus.FAILED
            payment.save(update_fields=["status"])
            _log(payment, "payment_failed", now, reference=payment.reference)
        return "applied"


def _succeeded(payment: Payment, event: PaymentEvent, now: datetime) -> Outcome:
    if event.data.amount != payment.amount or event.data.currency != payment.currency:
        _log(
            payment,
            "payment_mismatch",
            now,
            reference=payment.reference,
            amount=str(event.data.amount),
            currency=event.data.currency,
        )
        return "ignored"
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return "applied"  # settled once: a refund that followed is not undone
    payment.status = PaymentStatus.SUCCEEDED
    payment.settled_at = now
    payment.save(update_fields=["status", "settled_at"])
    paid = order_transition(
        order=Order.objects.get(pk=payment.order_id),
        name="pay",
        kind="paid",
        by="provider",
        now=now,
        topic="order.paid",
        data={"provider": payment.provider, "reference": payment.reference},
    )
    if not paid:
        # The deadline passed or the buyer cancelled first: keep the money on record.
        _log(payment, "payment_after_cancel", now, reference=payment.reference, refund_due=True)
    return "applied"


def payment_record_cod(*, order: Order, now: datetime) -> Payment:
    """Cash on delivery: the courier took the money at the door. Recorded once per order
    (its reference is the order's), in the transaction that delivers it."""
    return Payment.objects.create(
        order=order, provider=PaymentMethod.COD, amount=order.total, currency=order.currency,
        status=PaymentStatus.SUCCEEDED, reference=f"COD{order.pk}", created_at=now,
        settled_at=now,
    )  # fmt: skip


def payments_refund(
    *, order: Order, kind: str, by: str, now: datetime, actor: Any = None
) -> Decimal:
    """Mark the order's settled money as going back to the buyer and log ``kind`` with the
    amount: inside the transaction that moved the order out of the paid statuses, which
    happens once, so the money goes back once. Returns the amount."""
    settled = list(
        Payment.objects.select_for_update().filter(order=order, status=PaymentStatus.SUCCEEDED)
    )
    Payment.objects.filter(pk__in=[p.pk for p in settled]).update(status=PaymentStatus.REFUNDED)
    amount = sum((p.amount for p in settled), Decimal("0.00"))
    OrderEvent.objects.create(
        order=order, kind=kind, actor=actor, at=now,
        data={"by": by, "amount": f"{amount:.2f}", "currency": order.currency},
    )  # fmt: skip
    return amount


def _log(payment: Payment, kind: str, now: datetime, **data: Any) -> None:
    OrderEvent.objects.create(order_id=payment.order_id, kind=kind, data=data, at=now)
