"""Drops and claims on the live channel."""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from catalog import services as catalog
from coupons.models import Claim
from coupons.services import campaigns, drops
from server.accounts import services as accounts
from streams import live
from streams import services as streams
from tests.conftest import PASSWORD
from tests.integration.test_live_channel import connect, drain, next_frame, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def world(settings):
    settings.CLAIM_NEEDS_PRIOR_ACCOUNT = True
    host = accounts.user_register(username="host", password=PASSWORD, role="host")
    promoter = accounts.user_register(username="promo", password=PASSWORD, role="promoter")
    viewers = []
    for i in range(3):
        viewer = accounts.user_register(username=f"viewer{i}", password=PASSWORD)
        type(viewer).objects.filter(pk=viewer.pk).update(
            date_joined=timezone.now() - timedelta(days=1)
        )
        viewer.refresh_from_db()
        viewers.append(viewer)
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    now = timezone.now()
    session = streams.session_create(host=host, farm=farm, title="Live", now=now)
    streams.session_start(session=session, actor=host, now=now)
    campaign = campaigns.campaign_create(
        owner=promoter,
        name="Hot deal",
        kind="fixed",
        value=Decimal("30"),
        min_spend=Decimal("100"),
        budget=10,
        per_user_limit=1,
        farms=[farm],
    )
    return {"host": host, "viewers": viewers, "session": session, "campaign": campaign}


def open_drop(world, quantity=2, duration_s=60):
    return drops.drop_open(
        session=world["session"],
        campaign=world["campaign"],
        actor=world["host"],
        quantity=quantity,
        duration_s=duration_s,
        now=timezone.now(),
    )


async def test_drop_is_broadcast_and_claimed_over_the_socket(world):
    a = await connect(world["session"].pk, world["viewers"][0])
    b = await connect(world["session"].pk, world["viewers"][1])
    c = await connect(world["session"].pk, world["viewers"][2])
    for ws in (a, b, c):
        await next_frame(ws, "snapshot")
    drop = await sync_to_async(open_drop)(world)
    announced = await next_frame(a, "coupon.drop")
    assert announced["data"]["drop"] == drop.pk
    assert announced["data"]["left"] == 2
    assert announced["data"]["value"] == "30.00"
    for ws in (a, b, c):
        await send(ws, "coupon.claim", {"drop": drop.pk}, id_="claim")
    outcomes = {}
    for ws in (a, b, c):
        reply = closed = None
        while reply is None or closed is None:
            frame = await next_frame(ws)
            if frame.get("reply_to") == "claim":
                reply = frame
            elif frame["type"] == "coupon.drop.closed":
                closed = frame
        outcomes[ws] = reply
        assert closed["data"] == {"drop": drop.pk, "reason": "exhausted"}
    winners = [ws for ws, r in outcomes.items() if r["type"] == "coupon.claimed"]
    losers = [r for r in outcomes.values() if r["type"] == "error"]
    assert len(winners) == 2
    assert all(outcomes[ws]["data"]["code"].startswith("TL") for ws in winners)
    assert [r["data"]["code"] for r in losers] == ["sold_out"]
    # twice by a winner (one claim on this connection: well inside its budget)
    await send(winners[0], "coupon.claim", {"drop": drop.pk}, id_="again")
    again = await next_frame(winners[0], "error")
    assert again["data"]["code"] == "already_claimed"
    assert await sync_to_async(Claim.objects.count)() == 2
    for ws in (a, b, c):
        await ws.disconnect()


async def test_a_connections_claim_budget_refills_on_its_clock(world, monkeypatch):
    from coupons import live as coupons_live

    now = [1000.0]
    monkeypatch.setattr(coupons_live, "clock", lambda: now[0])
    limit, window_s = coupons_live.SOCKET_CLAIMS
    drop = await sync_to_async(open_drop)(world, quantity=2)
    viewer = await connect(world["session"].pk, world["viewers"][0])
    await next_frame(viewer, "snapshot")

    async def claim(id_: str) -> dict:
        await send(viewer, "coupon.claim", {"drop": drop.pk}, id_=id_)
        while True:
            frame = await next_frame(viewer)
            if frame.get("reply_to") == id_:
                return frame

    replies = [await claim(f"c{i}") for i in range(limit + 1)]
    assert [r["type"] for r in replies] == ["coupon.claimed"] + ["error"] * limit
    codes = [r["data"]["code"] for r in replies[1:]]
    assert codes == ["already_claimed"] * (limit - 1) + ["rate_limited"]
    now[0] += window_s + 0.001  # the window passes without waiting for it
    assert (await claim("after"))["data"]["code"] == "already_claimed"
    await viewer.disconnect()


async def test_claim_needs_a_user_and_an_open_drop(world):
    anonymous = await connect(world["session"].pk)
    await next_frame(anonymous, "snapshot")
    drop = await sync_to_async(open_drop)(world)
    await send(anonymous, "coupon.claim", {"drop": drop.pk}, id_=1)
    assert (await next_frame(anonymous, "error"))["data"]["code"] == "not_authenticated"
    await anonymous.disconnect()
    viewer = await connect(world["session"].pk, world["viewers"][0])
    await next_frame(viewer, "snapshot")
    await sync_to_async(drops.drop_close)(drop=drop, reason="cancelled", now=timezone.now())
    await send(viewer, "coupon.claim", {"drop": drop.pk}, id_=2)
    assert (await next_frame(viewer, "error"))["data"]["code"] == "drop_closed"
    await viewer.disconnect()


async def test_snapshot_lists_open_drops_and_coupons_left_is_published(world):
    drop = await sync_to_async(open_drop)(world, quantity=5)
    viewer = await connect(world["session"].pk, world["viewers"][0])
    snapshot = (await next_frame(viewer, "snapshot"))["data"]
    assert [d["drop"] for d in snapshot["drops"]] == [drop.pk]
    assert snapshot["drops"][0]["left"] == 5
    await send(viewer, "coupon.claim", {"drop": drop.pk}, id_="x")
    frames = await drain(viewer)
    assert any(f["type"] == "coupon.claimed" for f in frames)
    # coalesced facts converge on the current value within a few ticks
    for _ in range(10):
        await asyncio.sleep(0.6)  # past the coalescing interval
        await live.live_loop().tick_now()
        frames += await drain(viewer, 0.2)
        lefts = [f for f in frames if f["type"] == "coupon.left"]
        if lefts and max(lefts, key=lambda f: f["seq"])["data"]["left"] == 4:
            break
    else:
        raise AssertionError(f"coupon.left never settled on 4: {lefts}")
    await viewer.disconnect()


async def test_ending_the_session_cancels_its_drops(world):
    drop = await sync_to_async(open_drop)(world)
    viewer = await connect(world["session"].pk)
    await next_frame(viewer, "snapshot")
    await sync_to_async(streams.session_end)(
        session=world["session"], actor=world["host"], now=timezone.now()
    )
    closed = await next_frame(viewer, "coupon.drop.closed")
    assert closed["data"] == {"drop": drop.pk, "reason": "cancelled"}
    await viewer.disconnect()


async def test_bad_claim_frames(world):
    viewer = await connect(world["session"].pk, world["viewers"][0])
    await next_frame(viewer, "snapshot")
    await viewer.send_to(
        text_data=json.dumps({"type": "coupon.claim", "id": "z", "data": {"drop": "seven"}})
    )
    assert (await next_frame(viewer, "error"))["data"]["code"] == "invalid"
    await send(viewer, "coupon.claim", {"drop": 987654}, id_="nf")
    error = await next_frame(viewer, "error")
    assert error["data"]["code"] == "not_found"
    await viewer.disconnect()


async def test_a_claim_while_the_gate_is_unreachable_says_try_again(world, monkeypatch):
    """Redis down (or too slow) mid-drop: the viewer hears ``unavailable`` with a retry
    hint, not a server error, the socket stays open, and nobody holds a coupon."""
    import redis.asyncio as aioredis

    from server import gate
    from server.redis import ScriptPipeline

    drop = await sync_to_async(open_drop)(world)
    viewer = await connect(world["session"].pk, world["viewers"][0])
    await next_frame(viewer, "snapshot")
    dead = ScriptPipeline(aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    monkeypatch.setattr(gate, "redis_scripts", lambda: dead)
    await send(viewer, "coupon.claim", {"drop": drop.pk}, id_="down")
    error = await next_frame(viewer, "error")
    assert error["reply_to"] == "down"
    assert error["data"]["code"] == "unavailable"
    assert error["data"]["retry_after_s"] == 2
    await send(viewer, "ping", {}, id_="still")
    assert (await next_frame(viewer, "pong"))["reply_to"] == "still"
    assert not await sync_to_async(Claim.objects.filter(drop=drop).exists)()
    await viewer.disconnect()
