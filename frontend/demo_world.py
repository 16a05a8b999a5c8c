"""A past for the platform, made the way the product makes it: viewers joining a live, the
bank confirming a payment, the farm packing and shipping, Thailand Post scanning a parcel.

Every step goes through the service the real path calls (the provider's webhook event, the
carrier's webhook body, the fulfilment moves), at a time the caller gives, so what the demo
seed and the report tests build is what the platform would have recorded then: history
rows, outbox events, the session's metric buckets.

``live_play`` plays a whole live from a plan (``Live``): who watched minute by minute, who
chatted, which coupons dropped and who claimed them, who ordered what, and how far each
order got afterwards (``fulfil``). Claims and metric counts run after their commits, so a
caller must not wrap it in one transaction.
"""

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from catalog.models import Farm, Product
from coupons.models import Campaign, Drop
from coupons.services import claims, drops
from orders.carriers.s10 import s10_check_digit
from orders.models import Order, OrderStatus, Payment, PaymentStatus
from orders.services.cancelling import order_cancel
from orders.services.fulfilment import (
    order_accept,
    order_complete,
    order_deliver,
    order_pack,
    order_ship,
)
from orders.services.payments import payment_event_apply
from orders.services.placing import order_place
from orders.services.refunds import order_refund, order_refund_request
from orders.services.tracking import carrier_webhook_apply
from server.accounts.models import User
from streams import metrics
from streams import services as streams
from streams.metrics_store import session_metrics_flush
from streams.models import LiveSession

# Thailand Post's status codes for a parcel's usual journey (orders.carriers.thailandpost).
PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED = "103", "201", "301", "501"
LOCAL = ZoneInfo(settings.DISPLAY_TIME_ZONE)


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` on a loop of its own thread: the caller's thread may already run
    one (a browser test's Playwright, an async view)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def viewers_join(*, session_id: int, members: Sequence[str], at: datetime) -> None:
    """``members`` open the live page at ``at``, as the live socket counts them."""

    async def join() -> None:
        for member in members:
            await metrics.viewer_joined(session_id=session_id, member=member, at=at)

    run_async(join())


def payment_confirm(*, order: Order, at: datetime) -> None:
    """The provider confirms the order's pending payment at ``at``: the event its signed
    webhook carries (the sandbox page sends the same), applied once."""
    payment = Payment.objects.get(order=order, status=PaymentStatus.PENDING)
    event = {"id": f"evt_{payment.reference}", "type": "payment.succeeded",
             "data": {"reference": payment.reference, "amount": str(payment.amount),
                      "currency": payment.currency}}  # fmt: skip
    payment_event_apply(provider=payment.provider, event=event, now=at)


def s10_number(serial: int, prefix: str = "EF", country: str = "TH") -> str:
    """A well-formed S10 tracking number for ``serial`` (0..99,999,999)."""
    digits = f"{serial:08d}"
    return f"{prefix}{digits}{s10_check_digit(digits)}{country}"


def carrier_scans(
    *, tracking_number: str, scans: Sequence[tuple[str, datetime, str, str]], now: datetime
) -> None:
    """Thailand Post reports ``scans`` (status code, time, location, description) of one
    parcel in one webhook body, received at ``now``; a ``501`` delivers the order."""
    items = [
        {"barcode": tracking_number, "status": code, "status_date": at.isoformat(),
         "location": location, "status_description": note}
        for code, at, location, note in scans
    ]  # fmt: skip
    event = {"id": f"tp-{tracking_number}-{len(items)}-{int(now.timestamp())}", "items": items}
    carrier_webhook_apply(carrier="thailandpost", event=event, now=now)


def deliver(order: Order, host: User, at: datetime) -> None:
    """Take ``order`` down the main line to ``delivered`` at ``at``, as bank and farm would
    (a parcel the farm delivers itself)."""
    order = Order.objects.get(pk=order.pk)
    if order.status == "pending_payment":
        payment_confirm(order=order, at=at)
        order_accept(order_id=order.pk, actor=host, now=at)
    order_pack(order_id=order.pk, actor=host, now=at)
    order_ship(order_id=order.pk, actor=host, carrier="manual", tracking_number="", now=at)
    order_deliver(order_id=order.pk, actor=host, now=at)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` on ``day`` where the farms are (the display time zone)."""
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL)


# --- a live, planned: what happened in it and to its orders after ----------------------------


@dataclass(frozen=True)
class Sale:
    """An order placed ``at_s`` seconds into a live, and how far it got since."""

    at_s: int
    buyer: str
    items: tuple[tuple[int, int], ...]  # (the farm's product index, quantity)
    method: str  # cod | promptpay | sandbox
    # paid | accepted | packed | shipped | delivered | completed | cancelled | refunded
    fate: str
    coupon: bool = False  # with the coupon the buyer claimed in this live


@dataclass(frozen=True)
class DropPlan:
    """The promoter's coupon drop ``at_s`` seconds into a live, and who claimed when."""

    at_s: int
    quantity: int
    duration_s: int
    claims: tuple[tuple[int, str], ...]  # (seconds into the live, username)


@dataclass(frozen=True)
class Live:
    """One live: its showcase and what happened in it, second by second from its start."""

    farm: int  # which farm (the seed's index)
    title: str
    showcase: tuple[tuple[int, Decimal, int], ...]  # (product index, live price, allotment)
    viewers: tuple[int, ...]  # viewers on the page, minute by minute (its length: the live's)
    chat: tuple[tuple[int, str, str], ...] = ()  # (seconds in, username, text)
    sales: tuple[Sale, ...] = ()
    drops: tuple[DropPlan, ...] = ()
    # When the seed puts it: the 10th of that month, or that many days ago (19:00 local).
    months_ago: int | None = None
    days_ago: int | None = None


def live_play(
    plan: Live,
    *,
    farm: Farm,
    products: dict[int, Product],
    start: datetime,
    ends: bool,
    now: datetime,
    address: Callable[[str], dict[str, str]],
    campaign: Campaign | None = None,
    description: str = "",
) -> LiveSession:
    """Play ``plan`` from ``start``: viewers minute by minute, chat, ``campaign``'s drops
    (opened by its owner) and their claims, orders; then, when it ``ends``, its end, each
    order's life after it (``fulfil``), and its metric buckets flushed at ``now``.
    ``products``: the farm's products by the plan's indexes; ``address``: a buyer's."""
    host = farm.owner
    session = streams.session_create(
        host=host, farm=farm, title=plan.title, now=start, description=description
    )
    streams.session_start(session=session, actor=host, now=start)
    for index, price, allotment in plan.showcase:
        streams.showcase_add(
            session=session, actor=host, product=products[index], live_price=price,
            allotment=allotment, now=start,
        )  # fmt: skip
    # Everything that happens during the live, in the order it happened.
    people = {s.buyer for s in plan.sales} | {c[1] for c in plan.chat}
    people |= {name for d in plan.drops for _, name in d.claims}
    users = {name: User.objects.get(username=name) for name in sorted(people)}
    events: list[tuple[int, int, Any]] = []
    seen = 0
    for m, count in enumerate(plan.viewers):
        new = max(count - (plan.viewers[m - 1] if m else 0), 0) + 1
        members = [metrics.viewer_member(user_id=None, client=f"203.0.113.{seen + k}")
                   for k in range(new)]  # fmt: skip
        if m == 0:
            members += [f"u{user.pk}" for user in users.values()]
        seen += new
        events.append((m * 60 + 1, 0, ("join", members)))
        events.append((m * 60 + 5, 1, ("sample", count)))
    for at_s, name, text in plan.chat:
        events.append((at_s, 2, ("chat", name, text)))
    for drop in plan.drops:
        events.append((drop.at_s, 3, ("drop", drop)))
        events.extend((at_s, 4, ("claim", drop, name)) for at_s, name in drop.claims)
    events.extend((sale.at_s, 5, ("sale", sale)) for sale in plan.sales)
    opened: dict[DropPlan, Drop] = {}
    coupons: dict[str, int] = {}
    placed: list[tuple[Sale, Order, datetime]] = []
    for at_s, _, event in sorted(events, key=lambda e: (e[0], e[1])):
        at = start + timedelta(seconds=at_s)
        kind = event[0]
        if kind == "join":
            viewers_join(session_id=session.pk, members=event[1], at=at)
        elif kind == "sample":
            metrics.viewers_sample({session.pk: event[1]}, at=at)
        elif kind == "chat":
            streams.chat_post(session=session, user=users[event[1]], text=event[2], now=at)
        elif kind == "drop":
            if campaign is None:
                raise ValueError(f"{plan.title!r} drops coupons of no campaign.")
            opened[event[1]] = drops.drop_open(
                session=session, campaign=campaign, actor=campaign.owner,
                quantity=event[1].quantity, duration_s=event[1].duration_s, now=at,
            )  # fmt: skip
        elif kind == "claim":
            claim = claims.claim_create(drop_id=opened[event[1]].pk, user=users[event[2]],
                                        now=at)  # fmt: skip
            coupons[event[2]] = claim.pk
        else:
            sale = event[1]
            order = order_place(
                buyer=users[sale.buyer], session=session.pk,
                items=[{"product": products[i].pk, "qty": qty} for i, qty in sale.items],
                claim=coupons[sale.buyer] if sale.coupon else None,
                address=address(sale.buyer), payment_method=sale.method, now=at,
            )  # fmt: skip
            placed.append((sale, order, at))
    ended = start + timedelta(minutes=len(plan.viewers))
    if ends:
        drops.drops_close_overdue(now=ended, session_id=session.pk)
        streams.session_end(session=session, actor=host, now=ended)
    for sale, order, at in placed:
        fulfil(order, sale=sale, host=host, placed=at, ended=ended, now=now)
    session_metrics_flush(session_id=session.pk, now=now)
    return session


def fulfil(
    order: Order, *, sale: Sale, host: User, placed: datetime, ended: datetime, now: datetime
) -> None:
    """Take ``order`` as far as ``sale.fate``: the bank, the farm, the buyer and Thailand
    Post, each at its time after the live (the farm packs the next morning and posts in the
    afternoon; the parcel arrives the day after)."""
    after = ended.astimezone(LOCAL).date()

    def day(n: int, hour: int, minute: int = 0) -> datetime:
        return local(after + timedelta(days=n), hour, minute)

    buyer = order.buyer
    if sale.fate == "cancelled":
        order_cancel(order_id=order.pk, actor=buyer, now=placed + timedelta(minutes=10),
                     note="สั่งซ้ำ Ordered twice by mistake")  # fmt: skip
        return
    if order.status == OrderStatus.PENDING_PAYMENT:
        payment_confirm(order=order, at=placed + timedelta(minutes=2))
    if sale.fate == "paid":
        return
    if Order.objects.get(pk=order.pk).status == OrderStatus.PAID:
        order_accept(order_id=order.pk, actor=host, now=placed + timedelta(minutes=20))
    if sale.fate == "accepted":
        return
    order_pack(order_id=order.pk, actor=host, now=day(1, 9))
    if sale.fate == "packed":
        return
    number = s10_number(52_600_000 + order.pk)
    order_ship(order_id=order.pk, actor=host, carrier="thailandpost", tracking_number=number,
               now=day(1, 15))  # fmt: skip
    farm, province = order.farm, order.address["province"]
    journey = [
        (PICKED_UP, day(1, 16), f"{farm.district} post office, {farm.province}",
         "รับฝาก Accepted at the counter"),
        (IN_TRANSIT, day(2, 4, 30), "Bangkok Mail Centre, Lak Si", "ระหว่างขนส่ง In transit"),
        (OUT_FOR_DELIVERY, day(2, 8, 30), f"{province} post office",
         "อยู่ระหว่างนำจ่าย Out for delivery"),
        (DELIVERED, day(2, 13, 10), f"{province} post office", "นำจ่ายสำเร็จ Delivered"),
    ]  # fmt: skip
    for scan in journey[: 2 if sale.fate == "shipped" else 4]:
        carrier_scans(tracking_number=number, scans=[scan], now=scan[1] + timedelta(minutes=3))
    if sale.fate == "completed" and day(9, 13, 30) <= now:  # the sale final a week later
        order_complete(order_id=order.pk, now=day(9, 13, 30))
    elif sale.fate == "refunded":
        order_refund_request(order_id=order.pk, actor=buyer, now=day(3, 10),
                             reason="กล่องบุบ ขวดแตก One jar arrived broken")  # fmt: skip
        order_refund(order_id=order.pk, actor=host, now=day(3, 16))
    final = Order.objects.get(pk=order.pk).status
    if final != sale.fate:  # a plan the rules do not allow: say so rather than seed it
        raise ValueError(f"Order {order.pk} is {final}, not {sale.fate} as planned.")
