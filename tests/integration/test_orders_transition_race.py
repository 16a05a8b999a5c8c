"""Two transitions of one order at once: exactly one wins, the other hears 409 ``conflict``
and changes nothing; deterministic at the primitive, brute-force over HTTP."""

import threading
import time

import pytest
from django.db import connection, models, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import Order, OrderEvent
from orders.services.transitions import order_transition
from tests.integration.order_world import assert_stock_conserved, place_live, user, world

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 6


def test_a_move_read_before_another_committed_loses():
    w = world()
    order = place_live(user("b"), w, method="cod")
    stale = Order.objects.get(pk=order.pk)
    fresh = Order.objects.get(pk=order.pk)
    # when the farm packs it between the buyer's read and the buyer's save
    assert order_transition(order=fresh, name="pack", kind="packed", by="seller",
                            now=timezone.now())  # fmt: skip
    lost = order_transition(order=stale, name="cancel", kind="cancelled", by="buyer",
                            now=timezone.now())  # fmt: skip
    # then the late one changed nothing and sees the status that won
    assert lost is False
    assert stale.status == "packed"
    assert Order.objects.get(pk=order.pk).status == "packed"
    assert list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True)) == [
        "placed", "packed"
    ]  # fmt: skip


def test_an_illegal_move_is_refused_by_the_table():
    w = world()
    order = place_live(user("b"), w, method="cod")
    for name in ("pay", "accept", "ship", "deliver", "complete", "refund", "expire"):
        assert not order_transition(order=order, name=name, kind=name, by="system",
                                    now=timezone.now())  # fmt: skip
    assert Order.objects.get(pk=order.pk).status == "accepted"
    with pytest.raises(AttributeError):
        order.status = "delivered"  # protected: statuses move only through the table


def test_two_threads_refreshing_orders_at_once(monkeypatch):
    # given one thread inside a refresh (django-fsm has lifted the status's protection), and
    # a second that starts its refresh then and reads the row only after the first is done
    w = world()
    order = place_live(user("b"), w, method="cod")
    inside, leave, first_done = threading.Event(), threading.Event(), threading.Event()
    plain = models.Model.refresh_from_db

    def slow(self, *args, **kwargs):
        if threading.current_thread().name == "first":
            inside.set()
            leave.wait(5)
        else:
            first_done.wait(5)
        plain(self, *args, **kwargs)

    monkeypatch.setattr(models.Model, "refresh_from_db", slow)
    errors: list[Exception] = []

    def refresh() -> None:
        try:
            Order.objects.get(pk=order.pk).refresh_from_db()
        except Exception as exc:
            errors.append(exc)
        finally:
            if threading.current_thread().name == "first":
                first_done.set()
            connection.close()

    first = threading.Thread(target=refresh, name="first")
    first.start()
    assert inside.wait(5)
    second = threading.Thread(target=refresh, name="second")
    second.start()
    second.join(0.3)
    # when the first finishes
    leave.set()
    first.join(5)
    second.join(5)
    # then both refreshed, and the status is protected again
    assert errors == []
    with pytest.raises(AttributeError):
        order.status = "delivered"


def _race(calls) -> list[int]:
    barrier = threading.Barrier(len(calls))
    codes: list[int] = [0] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            codes[i] = call().status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def _client(who) -> APIClient:
    client = APIClient()
    client.force_authenticate(who)
    return client


def test_pack_against_the_buyers_cancel_one_wins():
    w = world(allotment=0, stock=ROUNDS)
    for i in range(ROUNDS):
        buyer = user(f"racer{i}")
        order = place_live(buyer, w, method="cod")
        pack = (_client(w["host"]), f"/api/orders/{order.pk}/pack/")
        cancel = (_client(buyer), f"/api/orders/{order.pk}/cancel/")
        codes = _race([lambda c=pack: c[0].post(c[1]), lambda c=cancel: c[0].post(c[1])])
        assert sorted(codes) == [200, 409], codes
        status = Order.objects.get(pk=order.pk).status
        assert status == ("packed" if codes[0] == 200 else "cancelled")
        moves = OrderEvent.objects.filter(order=order, kind__in=("packed", "cancelled"))
        assert moves.count() == 1
    assert_stock_conserved(w["product"], ROUNDS)


def test_the_same_move_twice_at_once_happens_once():
    w = world()
    order = place_live(user("twice"), w, method="cod")
    host = _client(w["host"])
    codes = _race([lambda: host.post(f"/api/orders/{order.pk}/pack/") for _ in range(3)])
    assert sorted(codes) == [200, 409, 409]
    assert OrderEvent.objects.filter(order=order, kind="packed").count() == 1


def test_a_scan_racing_the_farms_deliver_waits_instead_of_deadlocking():
    # given a parcel tracked by hand, and a transaction holding its order as the farm's
    # ``deliver`` does (order first), about to update the parcel
    from orders.models import Shipment
    from orders.services.fulfilment import order_pack, order_ship
    from orders.services.tracking import tracking_event_add

    w = world()
    order = place_live(user("b"), w, method="cod")
    now = timezone.now()
    order_pack(order_id=order.pk, actor=w["host"], now=now)
    shipment = order_ship(order_id=order.pk, actor=w["host"], carrier="kerry",
                          tracking_number="K1", now=now)  # fmt: skip
    holding, errors = threading.Event(), []

    def farm() -> None:
        try:
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=order.pk)
                holding.set()
                time.sleep(1.5)  # the scan below reaches its locks meanwhile
                Shipment.objects.select_for_update().get(pk=shipment.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=farm)
    thread.start()
    assert holding.wait(5)
    # when the farm types a delivered scan meanwhile
    try:
        tracking_event_add(order_id=order.pk, shipment_id=shipment.pk, actor=w["host"],
                           kind="delivered", at=None, location="", note="",
                           now=timezone.now())  # fmt: skip
    except Exception as exc:
        errors.append(exc)
    thread.join(10)
    # then neither was chosen as a deadlock's victim, and the scan delivered the order
    assert errors == []
    assert Order.objects.get(pk=order.pk).status == "delivered"
