"""What an order costs: lines, a coupon's discount, shipping, in Decimal from end to end.

Kept free of models and the database, so the rules below are tested exhaustively
(hypothesis) and every caller (placing an order, a quote for the buy sheet, a report) prices
the same way.

The rules, stated once:
- A line costs ``unit_price * qty``; the subtotal is the sum of the lines.
- A coupon discounts only the lines it applies to (its scope); ``min_spend`` is compared with
  the sum of those lines.
- ``percent``: ``eligible * value / 100`` rounded half-up to the satang (0.01), then capped at
  ``max_discount`` when the coupon has one. ``fixed``: ``value``.
- The discount never exceeds the eligible lines' sum, so a total never goes below the
  shipping fee, which no coupon touches.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from orders.errors import CouponNotApplicable
from server.money import money

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Line:
    """A line as priced: ``eligible`` says whether the coupon's scope covers its product."""

    product: int
    unit_price: Decimal
    qty: int
    eligible: bool = True

    @property
    def amount(self) -> Decimal:
        return money(self.unit_price * self.qty)


@dataclass(frozen=True, slots=True)
class Terms:
    """A coupon's discount terms, as they were when it was claimed."""

    kind: str  # "percent" | "fixed"
    value: Decimal
    max_discount: Decimal | None = None
    min_spend: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Quote:
    subtotal: Decimal
    discount: Decimal
    shipping_fee: Decimal
    total: Decimal


def discount_for(*, terms: Terms, eligible: Decimal) -> Decimal:
    """The discount ``terms`` give on ``eligible`` (the in-scope lines' sum).

    Raises ``CouponNotApplicable`` when nothing is in scope or ``min_spend`` is not reached.
    """
    if eligible <= 0:
        raise CouponNotApplicable("the coupon applies to none of these products")
    if eligible < terms.min_spend:
        raise CouponNotApplicable(f"the coupon needs a spend of at least {money(terms.min_spend)}")
    if terms.kind == "percent":
        off = money(eligible * terms.value / 100)
        if terms.max_discount is not None:
            off = min(off, money(terms.max_discount))
    elif terms.kind == "fixed":
        off = money(terms.value)
    else:
        raise ValueError(f"unknown discount kind {terms.kind!r}")
    return min(max(off, ZERO), eligible)


def quote(
    *, lines: Sequence[Line], terms: Terms | None = None, shipping_fee: Decimal = ZERO
) -> Quote:
    """Price ``lines`` with an optional coupon; refuses it as ``discount_for`` does."""
    if not lines:
        raise ValueError("an order has at least one line")
    subtotal = sum((line.amount for line in lines), ZERO)
    discount = ZERO
    if terms is not None:
        eligible = sum((line.amount for line in lines if line.eligible), ZERO)
        discount = discount_for(terms=terms, eligible=eligible)
    shipping = money(shipping_fee)
    return Quote(
        subtotal=subtotal,
        discount=discount,
        shipping_fee=shipping,
        total=subtotal - discount + shipping,
    )
