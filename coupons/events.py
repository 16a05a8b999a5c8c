"""Coupon broadcasts on the live channel (docs/protocol.md)."""

from datetime import datetime

from server.money import Money
from server.publisher import Event


class CouponDrop(Event):
    type = "coupon.drop"
    drop: int
    campaign: int
    kind: str
    value: Money
    max_discount: Money | None
    min_spend: Money
    currency: str
    quantity: int
    left: int
    opens_at: datetime
    closes_at: datetime


class CouponLeft(Event):
    type = "coupon.left"
    drop: int
    left: int


class CouponDropClosed(Event):
    type = "coupon.drop.closed"
    drop: int
    reason: str
