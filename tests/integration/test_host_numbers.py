"""``host.numbers`` over a real live socket: the session's host gets them, a viewer never
does; a join is counted as a viewer in the session's metrics."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from streams import live
from streams.metrics import live_counters
from tests.integration.order_world import place_live, user, world
from tests.integration.test_live_channel import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def frames_for(ws, seconds: float) -> list[dict]:
    """Every frame that arrives within ``seconds`` (a timed-out receive would end the app)."""
    out = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await ws.receive_nothing(timeout=0.1):
            continue
        out.append(json.loads(await ws.receive_from()))
    return out


async def test_only_the_host_gets_live_numbers():
    # given a host and a viewer on the session's live socket
    w = await sync_to_async(world)(allotment=10)
    buyer = await sync_to_async(user)("buyer1")
    host_ws = await connect(w["session"].pk, w["host"])
    viewer_ws = await connect(w["session"].pk, buyer)
    # when the viewer buys 2 kg and the loop ticks
    await sync_to_async(place_live)(buyer, w, qty=2, now=timezone.now())
    await live.live_loop().tick_now()
    # then the host hears the numbers, without a seq
    numbers = None
    for _ in range(6):
        got = [f for f in await frames_for(host_ws, 0.6) if f["type"] == "host.numbers"]
        if got and got[-1]["data"]["orders"] == 1:
            numbers = got[-1]
            break
        await asyncio.sleep(0.5)
        await live.live_loop().tick_now()
    assert numbers is not None
    assert "seq" not in numbers
    assert numbers["data"] == {
        "viewers": 2, "orders": 1, "units": 2, "gmv": "160.00", "currency": "THB", "claims": 0,
        "redeemed": 0,
        "top_product": {"id": w["product"].pk, "name": "Mango", "units": 2},
    }  # fmt: skip
    # and nothing unchanged is sent again
    await asyncio.sleep(0.6)
    await live.live_loop().tick_now()
    again = [f for f in await frames_for(host_ws, 0.8) if f["type"] == "host.numbers"]
    assert again == []
    # and the viewer never got any
    seen = await frames_for(viewer_ws, 0.5)
    assert "host.numbers" not in {f["type"] for f in seen}
    # both joins counted as distinct viewers
    total, _ = await sync_to_async(live_counters)(w["session"].pk)
    assert total["new_viewers"] == 2
    await host_ws.disconnect()
    await viewer_ws.disconnect()
