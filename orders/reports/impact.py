"""Household impact (``GET /api/impact/``, ``/impact/``): income that reached farms and their
households, by province and poverty county, month by month.

Definitions (also on the page): **income** is what farms are owed for settled orders
(``orders.reports.money``: paid and delivered, after the platform fee, with promoter-funded
discounts paid back), counted in the month the order was delivered. A **household reached**
is one of the ``households`` a farm declares, for a farm with any income in the period (or
month). Amounts are per currency; the page shows one at a time.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth

from catalog.models import Farm
from orders.models import Order
from orders.reports.money import settled
from server.periods import day_bounds, display_zone

ZERO = Decimal("0.00")


def _money(value: Decimal | None) -> str:
    return f"{(value or ZERO):.2f}"


def impact_report(
    *, start: date, end: date, province: str | None, currency: str
) -> dict[str, Any]:
    """Income settled from ``start`` (first day of a month) to ``end`` (last day)."""
    lower, upper = day_bounds(start, end)
    orders = settled(Order.objects.filter(currency=currency)).filter(
        settled_at__gte=lower, settled_at__lt=upper
    )
    if province:
        orders = orders.filter(farm__province=province)
    # Per farm and month: households count once per farm, however many orders it had.
    per_farm_month = list(
        orders.annotate(month=TruncMonth("settled_at", tzinfo=display_zone()))
        .values("month", "farm_id", "farm__province", "farm__district", "farm__county_code",
                "farm__poverty_county", "farm__households")
        .annotate(income=Sum("payout"), n_orders=Count("id"))
        .order_by("month", "farm_id")
    )  # fmt: skip
    farms: dict[int, dict[str, Any]] = {}
    # Every month of the period, those without income too (a chart shows the gap).
    months = {
        key: {"month": key, "income": ZERO, "farms": 0, "households": 0, "orders": 0}
        for key in month_keys(start, end)
    }
    for row in per_farm_month:
        farm = farms.setdefault(row["farm_id"], {**row, "income": ZERO, "orders": 0})
        farm["income"] += row["income"]
        farm["orders"] += row["n_orders"]
        month = months[row["month"].date().isoformat()[:7]]
        month["income"] += row["income"]
        month["farms"] += 1
        month["households"] += row["farm__households"]
        month["orders"] += row["n_orders"]
    provinces: dict[str, dict[str, Any]] = {}
    counties: dict[tuple[str, str, str], dict[str, Any]] = {}
    for farm in farms.values():
        p = provinces.setdefault(
            farm["farm__province"],
            {"province": farm["farm__province"], "income": ZERO, "income_poverty": ZERO,
             "farms": 0, "households": 0, "households_poverty": 0},
        )  # fmt: skip
        p["income"] += farm["income"]
        p["farms"] += 1
        p["households"] += farm["farm__households"]
        if farm["farm__poverty_county"]:
            p["income_poverty"] += farm["income"]
            p["households_poverty"] += farm["farm__households"]
            where = (farm["farm__province"], farm["farm__district"], farm["farm__county_code"])
            c = counties.setdefault(
                where,
                {"province": where[0], "district": where[1], "county_code": where[2],
                 "income": ZERO, "farms": 0, "households": 0},
            )  # fmt: skip
            c["income"] += farm["income"]
            c["farms"] += 1
            c["households"] += farm["farm__households"]
    income = sum((f["income"] for f in farms.values()), ZERO)
    households = sum(f["farm__households"] for f in farms.values())
    poverty = [f for f in farms.values() if f["farm__poverty_county"]]
    return {
        "from": start.isoformat()[:7],
        "to": end.isoformat()[:7],
        "province": province,
        "currency": currency,
        "totals": {
            "income": _money(income),
            "income_poverty": _money(sum((f["income"] for f in poverty), ZERO)),
            "orders": sum(f["orders"] for f in farms.values()),
            "farms": len(farms),
            "households": households,
            "households_poverty": sum(f["farm__households"] for f in poverty),
            "income_per_household": _money(income / households if households else ZERO),
        },
        "provinces": [
            {**p, "income": _money(p["income"]), "income_poverty": _money(p["income_poverty"])}
            for p in sorted(provinces.values(), key=lambda p: (-p["income"], p["province"]))
        ],
        "poverty_counties": [
            {**c, "income": _money(c["income"])}
            for c in sorted(counties.values(), key=lambda c: (-c["income"], c["province"]))
        ],
        "months": [{**m, "income": _money(m["income"])} for m in months.values()],
    }


def impact_provinces() -> list[str]:
    """Provinces with farms (the page's choices; a filter outside them finds nothing)."""
    return list(Farm.objects.order_by("province").values_list("province", flat=True).distinct())



def month_keys(start: date, end: date) -> list[str]:
    """``YYYY-MM`` of every month from ``start`` to ``end``."""
    keys, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys
