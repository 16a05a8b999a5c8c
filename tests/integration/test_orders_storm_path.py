"""``POST /api/orders/`` through the ASGI app (orders/storm.py): a buyer the gate refuses is
answered on the event loop and nothing is written; an admitted buyer's order is placed on the
bounded executor with the admission taken on the loop; neither enters the DRF view, and
anything else reaches the view untouched."""

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from rest_framework.authtoken.models import Token

from orders.models import IdempotencyRecord, Order, OrderLine
from orders.services.stock import offer_gate
from server.asgi import application
from streams.models import ShowcaseItem
from tests.integration.order_world import body, user, world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def post(payload: dict, *, token: str | None, key: str | None = None) -> tuple[int, dict]:
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if token is not None:
        headers.append((b"authorization", f"Token {token}".encode()))
    if key is not None:
        headers.append((b"idempotency-key", key.encode()))
    raw = json.dumps(payload).encode()
    headers.append((b"content-length", str(len(raw)).encode()))
    communicator = HttpCommunicator(application, "POST", "/api/orders/", raw, headers)
    response = await communicator.get_response(timeout=10)
    return response["status"], json.loads(response["body"] or b"{}")


@pytest.fixture
def views(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request that reached the DRF view."""
    from orders.api import OrderViewSet

    seen: list[str] = []
    create = OrderViewSet.create

    def counting(self, request):  # type: ignore[no-untyped-def]
        seen.append(request.headers.get("Idempotency-Key", ""))
        return create(self, request)

    monkeypatch.setattr(OrderViewSet, "create", counting)
    return seen


@sync_to_async
def setup(allotment: int = 1) -> tuple[dict, list[str]]:
    w = world(allotment=allotment)
    buyers = [user(f"buyer{i}") for i in range(2)]
    tokens = [Token.objects.create(user=b).key for b in buyers]
    return w, tokens


async def test_a_refused_buyer_is_answered_without_the_view(views: list[str]) -> None:
    w, (first, second) = await setup(allotment=1)
    status, won = await post(body(w), token=first, key=uuid.uuid4().hex)
    assert status == 201 and won["lines"][0]["qty"] == 1
    key = uuid.uuid4().hex
    status, refused = await post(body(w), token=second, key=key)
    assert status == 409
    assert refused == {
        "error": {"code": "out_of_stock", "message": "Only 0 left.",
                  "product": w["product"].pk, "left": 0}
    }  # fmt: skip
    assert views == []  # neither the winner nor the refused buyer entered the view
    assert await Order.objects.acount() == 1
    assert not await IdempotencyRecord.objects.filter(key=key).aexists()
    item = await ShowcaseItem.objects.aget(pk=w["item"].pk)
    assert item.left == 0 and offer_gate(w["session"].pk, w["product"].pk).left() == 0


async def test_an_admitted_buyer_is_placed_once_with_its_admission() -> None:
    w, (buyer, _) = await setup(allotment=3)
    key = uuid.uuid4().hex
    status, placed = await post(body(w, qty=2), token=buyer, key=key)
    assert status == 201
    line = await OrderLine.objects.aget(order_id=placed["id"])
    gate = offer_gate(w["session"].pk, w["product"].pk)
    assert line.qty == 2 and line.gate_token and gate.left() == 1
    assert gate.expired_pending(now=1e12) == []  # confirmed after commit
    # The same key again: the view replays it; the loop took nothing for it.
    status, again = await post(body(w, qty=2), token=buyer, key=key)
    assert (status, again["id"]) == (201, placed["id"])
    assert gate.left() == 1 and await Order.objects.acount() == 1


async def test_an_admission_the_order_refuses_is_given_back(views: list[str]) -> None:
    w, (buyer, _) = await setup(allotment=2)
    # Admitted on the loop, refused by order_place (no such coupon): the units go back.
    status, refused = await post(body(w, claim=999999), token=buyer, key=uuid.uuid4().hex)
    assert (status, refused["error"]["code"]) == (404, "not_found")
    assert views == []
    gate = offer_gate(w["session"].pk, w["product"].pk)
    assert gate.left() == 2 and gate.expired_pending(now=1e12) == []
    assert await Order.objects.acount() == 0


async def test_anything_else_reaches_the_view(views: list[str]) -> None:
    w, (buyer, _) = await setup(allotment=1)
    status, answer = await post(body(w), token=None)
    assert (status, answer["error"]["code"]) == (401, "not_authenticated")
    status, answer = await post(body(w), token="not-a-token")
    assert (status, answer["error"]["code"]) == (401, "not_authenticated")
    two = body(w, items=[{"product": w["product"].pk, "qty": 1},
                         {"product": w["other"].pk, "qty": 1}])  # fmt: skip
    status, _ = await post(two, token=buyer)
    assert status == 201
    assert len(views) == 1  # the unauthenticated ones stop at DRF's auth, before create


async def test_redis_down_is_the_views_unavailable(settings, views: list[str]) -> None:
    w, (buyer, _) = await setup(allotment=2)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    status, answer = await post(body(w), token=buyer, key=uuid.uuid4().hex)
    assert (status, answer["error"]["code"]) == (503, "unavailable")
    assert len(views) == 1  # the wrapper left it to the view
    assert await Order.objects.acount() == 0
    assert not await IdempotencyRecord.objects.aexists()
