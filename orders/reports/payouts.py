"""A farm's payout statement for a period: each settled order and what the farm is owed
(rules: ``orders.reports.money``)."""

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum

from catalog.models import Farm
from orders.models import Order
from orders.reports.money import fee_percent, settled
from server.accounts.models import User
from server.errors import NotFound
from server.periods import day_bounds

ZERO = Decimal("0.00")
CSV_COLUMNS = ("order", "settled_at", "payment_method", "currency", "subtotal", "discount",
               "promoter_discount", "shipping_fee", "total", "fee", "payout")  # fmt: skip


def farm_for_payouts(*, farm_id: int, user: User) -> Farm:
    """The farm's owner and staff see its payouts; anyone else hears ``NotFound``."""
    farm = Farm.objects.filter(pk=farm_id).first()
    if farm is None or not user.is_authenticated or not (user.is_staff or farm.owner_id == user.pk):
        raise NotFound("No such farm.")
    return farm


def _money(value: Decimal | None) -> str:
    return f"{(value or ZERO):.2f}"


def farm_payouts(*, farm: Farm, start: date, end: date) -> dict[str, Any]:
    """Orders of ``farm`` settled between ``start`` and ``end`` (days, inclusive)."""
    lower, upper = day_bounds(start, end)
    orders = settled(Order.objects.filter(farm=farm)).filter(
        settled_at__gte=lower, settled_at__lt=upper
    )
    rows = [
        {
            "order": o.pk,
            "settled_at": o.settled_at.isoformat(),
            "payment_method": o.payment_method,
            "currency": o.currency,
            "subtotal": _money(o.subtotal),
            "discount": _money(o.discount),
            "promoter_discount": _money(o.promoter_discount),
            "shipping_fee": _money(o.shipping_fee),
            "total": _money(o.total),
            "fee": _money(o.fee),
            "payout": _money(o.payout),
        }
        for o in orders.order_by("settled_at", "id")
    ]
    sums = {
        k.removeprefix("sum_"): v
        for k, v in orders.aggregate(
            orders=Count("id"), sum_total=Sum("total"),
            sum_promoter_discount=Sum("promoter_discount"), sum_fee=Sum("fee"),
            sum_payout=Sum("payout"),
        ).items()
    }  # fmt: skip
    return {
        "farm": {"id": farm.pk, "name": farm.name},
        "from": start.isoformat(),
        "to": end.isoformat(),
        "platform_fee_percent": str(fee_percent()),
        "orders": rows,
        "totals": {
            "orders": sums["orders"],
            **{k: _money(sums[k]) for k in ("total", "promoter_discount", "fee", "payout")},
        },
    }


def payout_rows(statement: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [list(CSV_COLUMNS)]
    rows += [[o[c] for c in CSV_COLUMNS] for o in statement["orders"]]
    t = statement["totals"]
    rows.append(["total", "", "", "", "", "", t["promoter_discount"], "", t["total"], t["fee"],
                 t["payout"]])  # fmt: skip
    return rows
