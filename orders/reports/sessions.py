"""The post-live report of one session (``GET /api/sessions/{id}/report/``).

Built from the minute buckets ``streams.metrics`` counted live (``SessionMinute``,
``SessionProductSales``, ``SessionTotals``): a session with 100,000 orders reads a few
hundred minute rows, not its orders (docs/benchmarks.md, "Session report"). What only the
order rows know, and what changes after the live (paid, settled, what the farm receives),
is one aggregate over the session's orders by the ``(session, status)`` index.
"""

import contextlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from redis.exceptions import RedisError

from coupons.models import Claim, ClaimStatus, CloseReason, Drop
from orders.models import Order, OrderStatus, PaymentMethod
from orders.reports.money import PAID, SETTLED, UNDONE, fee_percent, with_payout
from server.accounts.models import User
from server.errors import NotFound
from streams.metrics_store import ENDED_FLUSH_WINDOW, session_metrics_flush
from streams.models import (
    LiveSession,
    SessionMinute,
    SessionProductSales,
    SessionStatus,
    SessionTotals,
)

ZERO = Decimal("0.00")


def _money(value: Decimal | None) -> str:
    return f"{(value or ZERO):.2f}"


def session_for_report(*, session_id: int, user: User) -> tuple[LiveSession, str]:
    """The session and the reader's standing (``host``, ``staff``, ``promoter``): its host
    (the farm's owner), staff, and promoters whose campaign dropped coupons in it. Anyone
    else hears ``NotFound``, as for a session that does not exist."""
    session = LiveSession.objects.select_related("farm").filter(pk=session_id).first()
    if session is not None and user.is_authenticated:
        if user.pk in (session.host_id, session.farm.owner_id):
            return session, "host"
        if user.is_staff:
            return session, "staff"
        if Drop.objects.filter(session=session, campaign__owner=user).exists():
            return session, "promoter"
    raise NotFound("No such session report.")


def _flush_if_recent(session: LiveSession, now: datetime) -> None:
    """Counts still in Redis go to the buckets first, so a report read right after the live
    is exact (beat flushes every few seconds anyway)."""
    recent = session.status == SessionStatus.LIVE or (
        session.ended_at is not None and session.ended_at >= now - ENDED_FLUSH_WINDOW
    )
    if recent:
        with contextlib.suppress(RedisError):
            session_metrics_flush(session_id=session.pk, now=now)


def session_report(*, session: LiveSession, now: datetime, standing: str = "host") -> dict:
    """The report's data; ``standing`` ``promoter`` leaves out what the farm is paid."""
    _flush_if_recent(session, now)
    minutes = list(SessionMinute.objects.filter(session=session).order_by("minute"))
    totals = SessionTotals.objects.filter(session=session).first() or SessionTotals(
        session=session
    )
    summed = {
        name: sum(getattr(m, name) for m in minutes)
        for name in ("chat", "claims", "orders", "units", "redeemed", "gmv", "discount")
    }
    orders = _order_money(session)
    currency = totals.currency or orders.pop("currency", None) or "THB"
    orders.pop("currency", None)
    drops = _drops(session)
    timeline = [
        {
            "minute": m.minute.isoformat(),
            "viewers": m.viewers_sum // m.viewers_samples if m.viewers_samples else 0,
            "viewers_peak": m.viewers_peak,
            "new_viewers": m.new_viewers,
            "chat": m.chat,
            "claims": m.claims,
            "orders": m.orders,
            "units": m.units,
            "gmv": _money(m.gmv),
            "discount": _money(m.discount),
        }
        for m in minutes
    ]
    gmv_total = summed["gmv"] or ZERO
    products = [
        {
            "product": p.product_id,
            "name": p.name,
            "orders": p.orders,
            "units": p.units,
            "gmv": _money(p.gmv),
            "share": round(float(p.gmv / gmv_total), 4) if gmv_total else 0.0,
        }
        for p in SessionProductSales.objects.filter(session=session).order_by("-units", "product")
    ]
    return {
        "session": {
            "id": session.pk,
            "title": session.title,
            "status": session.status,
            "farm": {
                "id": session.farm_id,
                "name": session.farm.name,
                "province": session.farm.province,
                "poverty_county": session.farm.poverty_county,
            },
            "started_at": _iso(session.started_at),
            "ended_at": _iso(session.ended_at),
        },
        "currency": currency,
        "totals": {
            "viewers": totals.viewers,
            "viewers_peak": totals.viewers_peak,
            "chat_messages": summed["chat"],
            "chatters": totals.chatters,
            "claims": summed["claims"],
            "claimers": totals.claimers,
            "orders": summed["orders"],
            "buyers": totals.buyers,
            "units": summed["units"],
            "redeemed": summed["redeemed"],
            "gmv": _money(summed["gmv"]),
            "discount": _money(summed["discount"]),
        },
        "funnel": [
            {"step": "viewers", "count": totals.viewers},
            {"step": "chatters", "count": totals.chatters},
            {"step": "claimers", "count": totals.claimers},
            {"step": "buyers", "count": totals.buyers},
            {"step": "paid", "count": orders.pop("paid_buyers")},
        ],
        "timeline": timeline,
        "drops": drops,
        "products": products,
        "money": orders if standing != "promoter" else None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _order_money(session: LiveSession) -> dict[str, Any]:
    """Order states and money after the live: one aggregate over the session's orders."""
    paid = Q(status__in=PAID) & ~Q(payment_method=PaymentMethod.COD) | Q(status__in=SETTLED)
    standing = ~Q(status__in=UNDONE)
    settled = Q(status__in=SETTLED)
    # Aggregate names differ from the annotations they sum (Django refuses a clash).
    sums = with_payout(Order.objects.filter(session=session)).aggregate(
        paid_buyers=Count("buyer", filter=paid, distinct=True),
        orders_standing=Count("id", filter=standing),
        orders_cancelled=Count("id", filter=Q(status=OrderStatus.CANCELLED)),
        orders_refunded=Count("id", filter=Q(status=OrderStatus.REFUNDED)),
        orders_settled=Count("id", filter=settled),
        sum_gmv=Sum("subtotal", filter=standing),
        sum_discount=Sum("discount", filter=standing),
        sum_promoter_discount=Sum("promoter_discount", filter=standing),
        sum_shipping=Sum("shipping_fee", filter=standing),
        sum_fee_expected=Sum("fee", filter=standing),
        sum_farm_expected=Sum("payout", filter=standing),
        sum_farm_received=Sum("payout", filter=settled),
        sum_fee_settled=Sum("fee", filter=settled),
    )
    row = {k.removeprefix("sum_"): v for k, v in sums.items()}
    money_keys = ("gmv", "discount", "promoter_discount", "shipping", "fee_expected",
                  "farm_expected", "farm_received", "fee_settled")  # fmt: skip
    out: dict[str, Any] = {k: (_money(v) if k in money_keys else v) for k, v in row.items()}
    out["farm_discount"] = _money((row["discount"] or ZERO) - (row["promoter_discount"] or ZERO))
    out["platform_fee_percent"] = str(fee_percent())
    currency = Order.objects.filter(session=session).values_list("currency", flat=True).first()
    out["currency"] = currency
    return out


def _drops(session: LiveSession) -> list[dict[str, Any]]:
    """Each coupon drop: when, how many, how fast it ran out, how many were used."""
    drops = list(
        Drop.objects.filter(session=session).select_related("campaign").order_by("opens_at", "id")
    )
    redeemed = dict(
        Claim.objects.filter(drop__in=drops, status=ClaimStatus.REDEEMED)
        .values("drop")
        .annotate(n=Count("id"))
        .values_list("drop", "n")
    )
    out = []
    for drop in drops:
        exhausted_s = None
        if drop.close_reason == CloseReason.EXHAUSTED and drop.closed_at is not None:
            exhausted_s = round((drop.closed_at - drop.opens_at).total_seconds(), 1)
        used = redeemed.get(drop.pk, 0)
        out.append(
            {
                "id": drop.pk,
                "campaign": drop.campaign_id,
                "campaign_name": drop.campaign.name,
                "opens_at": drop.opens_at.isoformat(),
                "closes_at": drop.closes_at.isoformat(),
                "closed_at": _iso(drop.closed_at),
                "close_reason": drop.close_reason or None,
                "quantity": drop.quantity,
                "claimed": drop.claimed,
                "exhausted_after_s": exhausted_s,
                "redeemed": used,
                "redemption_rate": round(used / drop.claimed, 4) if drop.claimed else 0.0,
            }
        )
    return out


TIMELINE_CSV = ("minute", "viewers", "viewers_peak", "new_viewers", "chat", "claims", "orders",
                "units", "gmv", "discount")  # fmt: skip
PRODUCTS_CSV = ("product", "name", "orders", "units", "gmv", "share")


def session_report_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The report as CSV rows: the minutes, a blank line, then the products."""
    rows: list[list[Any]] = [list(TIMELINE_CSV)]
    rows += [[m[c] for c in TIMELINE_CSV] for m in report["timeline"]]
    rows += [[], list(PRODUCTS_CSV)]
    rows += [[p[c] for c in PRODUCTS_CSV] for p in report["products"]]
    return rows
