"""A viewer on the live channel sees what buying does: ``stock`` and ``order.ticker``."""

import pytest
from asgiref.sync import sync_to_async

from tests.integration.order_world import body, user, world
from tests.integration.test_live_channel import connect, next_frame

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_a_viewer_sees_stock_and_the_ticker_when_someone_buys(client_for):
    w = await sync_to_async(world)(allotment=10)
    ws = await connect(w["session"].pk)
    snapshot = await next_frame(ws, "snapshot")
    [item] = snapshot["data"]["showcase"]
    assert (item["left"], item["deal_ends_at"], item["per_buyer_limit"]) == (10, None, None)
    buyer = await sync_to_async(user)("Somsri")
    api = await sync_to_async(client_for)(buyer)
    reply = await sync_to_async(api.post)("/api/orders/", body(w, qty=3), format="json")
    assert reply.status_code == 201, reply.json()
    stock = await next_frame(ws, "stock")
    assert stock["data"] == {"product": w["product"].pk, "left": 7}
    ticker = await next_frame(ws, "order.ticker")
    assert ticker["data"] == {"buyer": "S***i", "product": w["product"].pk, "qty": 3}
    await ws.disconnect()
