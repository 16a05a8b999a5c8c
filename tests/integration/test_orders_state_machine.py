"""The order pipeline against an explicit transition table, driven by hypothesis.

Random buyers, farms, staff and strangers take random actions on random orders (through the
services, against real PostgreSQL and Redis); a model written here from the documented rules,
not from the code, says what each should do. After every step: each order is where the model
says (no state reachable outside the table), every unit of stock is in the shop, the offer or
an order that still holds it (so stock came back exactly once per cancelled or refunded
unshipped order), each coupon is held by at most one order, and the money adds up: each
order's payment settled at most once, and what went back equals what was taken; and the
outbox heard each move that happened, once, in the order it happened.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orders.carriers.s10 import s10_check_digit
from orders.models import Order, OrderEvent, Payment, PaymentStatus
from orders.services.cancelling import order_cancel, orders_expire_unpaid
from orders.services.fulfilment import (
    order_accept,
    order_deliver,
    order_pack,
    order_ship,
    orders_complete_delivered,
)
from orders.services.payments import payment_event_apply
from orders.services.refunds import order_refund, order_refund_request
from orders.services.tracking import carrier_webhook_apply
from server.errors import DomainError
from server.outbox.models import OutboxEvent
from server.redis import redis_client
from tests.integration.order_world import (
    assert_claims_once,
    assert_stock_conserved,
    coupon,
    place_live,
    user,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)
STOCK = 30

# The documented table (docs/api.md "Statuses"), written out independently of the model's.
TABLE: dict[str, tuple[frozenset[str], str]] = {
    "pay": (frozenset({"pending_payment"}), "paid"),
    "accept": (frozenset({"paid"}), "accepted"),
    "pack": (frozenset({"accepted"}), "packed"),
    "ship": (frozenset({"packed"}), "shipped"),
    "deliver": (frozenset({"shipped"}), "delivered"),
    "complete": (frozenset({"delivered"}), "completed"),
    "cancel": (frozenset({"pending_payment", "paid", "accepted", "packed"}), "cancelled"),
    "expire": (frozenset({"pending_payment"}), "cancelled"),
    "refund_request": (
        frozenset({"paid", "accepted", "packed", "shipped", "delivered"}),
        "refund_requested",
    ),
    "refund": (frozenset({"refund_requested"}), "refunded"),
}
WHO = {
    "accept": {"seller"}, "pack": {"seller"}, "ship": {"seller"}, "deliver": {"seller"},
    "cancel": {"buyer", "seller"}, "refund_request": {"buyer"}, "refund": {"seller", "staff"},
}  # fmt: skip
FORWARD = {"accept", "pack", "ship", "deliver", "refund_request", "refund"}
# What each move tells webhooks and notifications (docs/api.md "Moving an order").
TOPIC = {
    "pay": "order.paid", "accept": "order.accepted", "pack": "order.packed",
    "ship": "shipment.created", "deliver": "shipment.delivered", "complete": "order.completed",
    "cancel": "order.cancelled", "expire": "order.cancelled",
    "refund_request": "refund.requested", "refund": "refund.completed",
}  # fmt: skip
BUYER_CANCELS_FROM = {"pending_payment", "paid", "accepted"}
ACTORS = ("buyer", "seller", "staff", "stranger")


@dataclass
class Model:
    buyer: int
    method: str
    total: Decimal
    status: str
    money_taken: bool = False
    shipped: bool = False
    carrier: str = ""
    number: str = ""
    refunded: bool = False
    late_money: bool = False
    history: list[str] = field(default_factory=list)


class Pipeline(RuleBasedStateMachine):
    @initialize()
    def fresh_world(self) -> None:
        # a fresh world per example; ids keep growing (processes cache some by id)
        call_command("flush", verbosity=0, interactive=False, reset_sequences=False)
        redis_client().flushdb()
        self.w = world(stock=STOCK, allotment=10)
        self.buyers = [user(f"b{i}") for i in range(2)]
        self.claims = [coupon(self.w, b) for b in self.buyers]
        self.staff = user("staff")
        type(self.staff).objects.filter(pk=self.staff.pk).update(is_staff=True)
        self.staff.refresh_from_db()
        self.stranger = user("stranger")
        self.orders: dict[int, Model] = {}
        self.serial = 0
        self.now = timezone.now()

    def _tick(self) -> None:
        self.now += timedelta(seconds=1)

    def _actor(self, model: Model, who: str):
        if who == "buyer":
            return next(b for b in self.buyers if b.pk == model.buyer)
        return {"seller": self.w["host"], "staff": self.staff, "stranger": self.stranger}[who]

    def _expect(self, model: Model, action: str, who: str) -> bool:
        sources, _ = TABLE[action]
        if model.status not in sources or who not in WHO[action]:
            return False
        if action == "cancel" and who == "buyer" and model.status not in BUYER_CANCELS_FROM:
            return False
        if action == "refund_request" and not model.money_taken:
            return False
        # a carrier that reports scans says ``delivered`` itself
        return not (action == "deliver" and model.carrier == "thailandpost")

    def _apply(self, model: Model, action: str) -> None:
        """The model's side of a move that happened."""
        was = model.status
        model.status = TABLE[action][1]
        model.history.append(action)
        if action == "pay":
            model.money_taken = True
        if action == "deliver" and model.method == "cod":
            model.money_taken = True
        if action in ("cancel", "expire", "refund") and model.money_taken:
            model.refunded = True
        assert was in TABLE[action][0]

    # --- rules ------------------------------------------------------------------------

    @precondition(lambda self: len(self.orders) < 5)
    @rule(who=st.integers(0, 1), qty=st.integers(1, 3),
          method=st.sampled_from(["cod", "promptpay"]), use_coupon=st.booleans())  # fmt: skip
    def place(self, who: int, qty: int, method: str, use_coupon: bool) -> None:
        self._tick()
        buyer = self.buyers[who]
        claim = self.claims[who].pk if use_coupon else None
        try:
            order = place_live(buyer, self.w, qty=qty, claim=claim, method=method, now=self.now)
        except DomainError:
            return
        expected = "accepted" if method == "cod" else "pending_payment"
        assert order.status == expected
        self.orders[order.pk] = Model(buyer=buyer.pk, method=method, total=order.total,
                                      status=expected)  # fmt: skip

    @precondition(lambda self: any(m.method == "promptpay" for m in self.orders.values()))
    @rule(pick=st.integers(0, 4))
    def pay(self, pick: int) -> None:
        """The bank confirms, mostly while the order waits, sometimes after it was cancelled."""
        ids = sorted(k for k, m in self.orders.items() if m.method == "promptpay")
        waiting = [k for k in ids if self.orders[k].status == "pending_payment"]
        order_id = (waiting if waiting and pick else ids)[pick % len(waiting or ids)]
        model = self.orders[order_id]
        payment = Payment.objects.filter(order_id=order_id, provider="promptpay").first()
        if payment is None:
            return
        self._tick()
        event = {"id": f"evt_{order_id}_{len(model.history)}", "type": "payment.succeeded",
                 "data": {"reference": payment.reference, "amount": str(payment.amount),
                          "currency": payment.currency}}  # fmt: skip
        payment_event_apply(provider="promptpay", event=event, now=self.now)
        if model.status == "pending_payment":
            self._apply(model, "pay")
        elif not model.money_taken:  # the money arrived after the order was cancelled
            model.late_money = True
            model.money_taken = True

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 4), action=st.sampled_from(sorted(WHO)), who=st.sampled_from(ACTORS),
          carrier=st.sampled_from(["manual", "thailandpost"]))  # fmt: skip
    def act(self, pick: int, action: str, who: str, carrier: str) -> None:
        """Anyone tries anything: mostly refusals, each checked against the model."""
        self._take(pick, action, who, carrier)

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 4), data=st.data(),
          carrier=st.sampled_from(["manual", "thailandpost"]))  # fmt: skip
    def advance(
        self, pick: int, data: st.DataObject, carrier: str, forward: bool = False
    ) -> None:
        """Someone entitled takes a move the table has from the order's status."""
        model = self.orders[sorted(self.orders)[pick % len(self.orders)]]
        moves = sorted(a for a in WHO if model.status in TABLE[a][0])
        if forward:
            moves = [a for a in moves if a in FORWARD] or moves
        if not moves:
            return
        action = data.draw(st.sampled_from(moves))
        who = data.draw(st.sampled_from(sorted(WHO[action])))
        self._take(pick, action, who, carrier)

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 4), data=st.data())
    def advance_again(self, pick: int, data: st.DataObject) -> None:
        """Down the main line (and a refund once asked), so orders get far."""
        self.advance(pick, data, "thailandpost" if pick % 2 else "manual", forward=True)

    def _take(self, pick: int, action: str, who: str, carrier: str) -> None:
        order_id = sorted(self.orders)[pick % len(self.orders)]
        model = self.orders[order_id]
        actor = self._actor(model, who)
        expected = self._expect(model, action, who)
        self._tick()
        self.serial += 1
        number = f"EE{self.serial:08d}{s10_check_digit(f'{self.serial:08d}')}TH"
        calls = {
            "accept": lambda: order_accept(order_id=order_id, actor=actor, now=self.now),
            "pack": lambda: order_pack(order_id=order_id, actor=actor, now=self.now),
            "ship": lambda: order_ship(order_id=order_id, actor=actor, carrier=carrier,
                                       tracking_number=number, now=self.now),
            "deliver": lambda: order_deliver(order_id=order_id, actor=actor, now=self.now),
            "cancel": lambda: order_cancel(order_id=order_id, actor=actor, now=self.now),
            "refund_request": lambda: order_refund_request(order_id=order_id, actor=actor,
                                                           reason="r", now=self.now),
            "refund": lambda: order_refund(order_id=order_id, actor=actor, now=self.now),
        }  # fmt: skip
        before = Order.objects.get(pk=order_id).status
        try:
            calls[action]()
            done = True
        except DomainError as exc:
            done = False
            code = exc.code
        assert done == expected, (action, who, model.status, None if done else code)
        if not done:
            assert Order.objects.get(pk=order_id).status == before
            assert code in ("not_found", "forbidden", "conflict"), code
            return
        if action == "ship":
            model.shipped, model.carrier, model.number = True, carrier, number
        self._apply(model, action)

    @precondition(lambda self: any(m.carrier == "thailandpost" for m in self.orders.values()))
    @rule(pick=st.integers(0, 4))
    def carrier_says_delivered(self, pick: int) -> None:
        tracked = sorted(k for k, m in self.orders.items() if m.carrier == "thailandpost")
        model = self.orders[tracked[pick % len(tracked)]]
        self._tick()
        event = {"id": f"tp_{model.number}_{self.now.timestamp()}", "items": [
            {"barcode": model.number, "status": "501", "status_date": self.now.isoformat()}
        ]}  # fmt: skip
        carrier_webhook_apply(carrier="thailandpost", event=event, now=self.now)
        if model.status == "shipped":
            self._apply(model, "deliver")

    @precondition(lambda self: len(self.orders) >= 3)
    @rule()
    def deadline_passes(self) -> None:
        self.now += timedelta(hours=2)
        orders_expire_unpaid(now=self.now)
        for model in self.orders.values():
            if model.status == "pending_payment":
                self._apply(model, "expire")

    @precondition(lambda self: any(m.status == "delivered" for m in self.orders.values()))
    @rule()
    def week_passes(self) -> None:
        self.now += timedelta(days=30)
        orders_complete_delivered(now=self.now)
        for model in self.orders.values():
            if model.status == "delivered":
                self._apply(model, "complete")

    # --- invariants -------------------------------------------------------------------

    @invariant()
    def each_order_is_where_the_table_says(self) -> None:
        if not hasattr(self, "orders"):
            return
        actual = dict(Order.objects.values_list("pk", "status"))
        assert actual == {pk: m.status for pk, m in self.orders.items()}

    @invariant()
    def stock_and_coupons_come_back_once(self) -> None:
        if not hasattr(self, "w"):
            return
        assert_stock_conserved(self.w["product"], STOCK)
        assert_claims_once()

    @invariant()
    def money_adds_up(self) -> None:
        for pk, model in getattr(self, "orders", {}).items():
            payments = list(Payment.objects.filter(order_id=pk))
            kept = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
            settled = [p for p in payments if p.status in kept]
            assert len(settled) == (1 if model.money_taken else 0), (model, payments)
            for p in settled:
                assert p.amount == model.total
            refunded = [p for p in settled if p.status == PaymentStatus.REFUNDED]
            assert len(refunded) == (1 if model.refunded else 0), (model, payments)
            owed = OrderEvent.objects.filter(order_id=pk, kind="refund_due")
            assert owed.count() == (1 if model.refunded else 0), (model, list(owed.values("data")))

    @invariant()
    def each_move_is_told_once_in_order(self) -> None:
        for pk, model in getattr(self, "orders", {}).items():
            told = OutboxEvent.objects.filter(key=f"order:{pk}").order_by("id")
            topics = list(told.values_list("topic", flat=True))
            assert topics == ["order.created", *(TOPIC[a] for a in model.history)], (model, topics)


def test_the_pipeline_follows_its_table():
    run_state_machine_as_test(
        Pipeline,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
