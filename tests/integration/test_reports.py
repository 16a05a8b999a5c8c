"""Reports: a session with known viewers, chat, claims and orders, built through the services;
every number of the report, the campaign's return, the farm's payouts and the impact page
checked exactly, and who may read each.

Delivered orders are set with a queryset update: the delivery transition is another
branch's (the merge switches these to its service)."""

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from catalog.models import Farm
from coupons.services import campaigns, claims, drops
from orders.models import Order
from streams import metrics, services
from streams.metrics_store import session_metrics_flush
from streams.models import SessionMinute
from tests.integration.order_world import place_live, user, world

pytestmark = pytest.mark.django_db(transaction=True)

JAN = datetime(2025, 1, 15, 10, tzinfo=UTC)
FEB = datetime(2025, 2, 3, 10, tzinfo=UTC)


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


@pytest.fixture
def live():
    """Minute T: 4 viewers join (samples 3 and 5), b1 chats twice, a drop of 2 runs out in
    6 s (b1, b2). Minute T+1: samples 2, b2 chats, b1 orders 2 kg with the coupon (COD), b2
    orders 1 kg (PromptPay, never paid). Minute T+2: b3 orders 3 kg (COD)."""
    w = world(allotment=20)
    Farm.objects.filter(pk=w["farm"].pk).update(
        poverty_county=True, households=3, county_code="5507"
    )
    t = minute(timezone.now()) - timedelta(minutes=5)
    s = w["session"]
    b1, b2, b3 = user("b1"), user("b2"), user("b3")
    for member in (f"u{b1.pk}", f"u{b2.pk}", f"u{b3.pk}", "anon"):
        asyncio.run(metrics.viewer_joined(session_id=s.pk, member=member, at=t))
    asyncio.run(metrics.viewer_joined(session_id=s.pk, member=f"u{b1.pk}", at=t))  # again
    metrics.viewers_sample({s.pk: 3}, at=t)
    metrics.viewers_sample({s.pk: 5}, at=t + timedelta(seconds=1))
    metrics.viewers_sample({s.pk: 2}, at=t + timedelta(seconds=61))
    services.chat_post(session=s, user=b1, text="hello", now=t + timedelta(seconds=10))
    services.chat_post(session=s, user=b1, text="mango!", now=t + timedelta(seconds=11))
    services.chat_post(session=s, user=b2, text="hi", now=t + timedelta(seconds=70))
    promoter = user("promoter", "promoter")
    campaign = campaigns.campaign_create(
        owner=promoter, name="Mango season", kind="percent", value=Decimal("10"), budget=10,
        per_user_limit=1, claim_ttl_s=3600,
    )  # fmt: skip
    drop = drops.drop_open(
        session=s, campaign=campaign, actor=promoter, quantity=2, duration_s=600, now=t
    )
    c1 = claims.claim_create(drop_id=drop.pk, user=b1, now=t + timedelta(seconds=5))
    claims.claim_create(drop_id=drop.pk, user=b2, now=t + timedelta(seconds=6))
    o1 = place_live(b1, w, qty=2, claim=c1.pk, method="cod", now=t + timedelta(seconds=65))
    o2 = place_live(b2, w, qty=1, method="promptpay", now=t + timedelta(seconds=70))
    o3 = place_live(b3, w, qty=3, method="cod", now=t + timedelta(seconds=130))
    Order.objects.filter(pk=o1.pk).update(status="delivered", updated_at=JAN)
    Order.objects.filter(pk=o3.pk).update(status="delivered", updated_at=FEB)
    return {**w, "t": t, "b1": b1, "b2": b2, "b3": b3, "promoter": promoter,
            "campaign": campaign, "drop": drop, "orders": (o1, o2, o3)}  # fmt: skip


def test_session_report_numbers(live, client_for):
    # when
    response = client_for(live["host"]).get(f"/api/sessions/{live['session'].pk}/report/")
    # then
    assert response.status_code == 200, response.content
    report = response.json()
    t = live["t"]
    assert report["currency"] == "THB"
    assert report["totals"] == {
        "viewers": 4, "viewers_peak": 5, "chat_messages": 3, "chatters": 2, "claims": 2,
        "claimers": 2, "orders": 3, "buyers": 3, "units": 6, "redeemed": 1, "gmv": "480.00",
        "discount": "16.00",
    }  # fmt: skip
    assert report["funnel"] == [
        {"step": "viewers", "count": 4},
        {"step": "chatters", "count": 2},
        {"step": "claimers", "count": 2},
        {"step": "buyers", "count": 3},
        {"step": "paid", "count": 2},
    ]
    zero = {"viewers": 0, "viewers_peak": 0, "new_viewers": 0, "chat": 0, "claims": 0,
            "orders": 0, "units": 0, "gmv": "0.00", "discount": "0.00"}  # fmt: skip
    assert report["timeline"] == [
        {**zero, "minute": t.isoformat(), "viewers": 4, "viewers_peak": 5, "new_viewers": 4,
         "chat": 2, "claims": 2},
        {**zero, "minute": (t + timedelta(minutes=1)).isoformat(), "viewers": 2,
         "viewers_peak": 2, "chat": 1, "orders": 2, "units": 3, "gmv": "240.00",
         "discount": "16.00"},
        {**zero, "minute": (t + timedelta(minutes=2)).isoformat(), "orders": 1, "units": 3,
         "gmv": "240.00"},
    ]  # fmt: skip
    assert report["products"] == [
        {"product": live["product"].pk, "name": "Mango", "orders": 3, "units": 6,
         "gmv": "480.00", "share": 1.0},
    ]  # fmt: skip
    [drop] = report["drops"]
    assert drop["id"] == live["drop"].pk
    assert drop["quantity"] == 2 and drop["claimed"] == 2 and drop["redeemed"] == 1
    assert drop["close_reason"] == "exhausted" and drop["exhausted_after_s"] == 6.0
    assert drop["redemption_rate"] == 0.5
    # b1: 160 - 16 = 144 paid, promoter pays back 16, fee 5% of 160 = 8 -> 152;
    # b3: 240, fee 12 -> 228; b2 (not paid yet): 80, fee 4 -> 76.
    assert report["money"] == {
        "orders_standing": 3, "orders_cancelled": 0, "orders_refunded": 0,
        "orders_settled": 2, "gmv": "480.00", "discount": "16.00", "promoter_discount": "16.00",
        "farm_discount": "0.00", "shipping": "0.00", "fee_expected": "24.00",
        "farm_expected": "456.00", "farm_received": "380.00", "fee_settled": "20.00",
        "platform_fee_percent": "5",
    }  # fmt: skip


def test_report_flush_is_idempotent_and_never_lowers(live):
    # given the buckets flushed once
    s = live["session"]
    now = timezone.now()
    session_metrics_flush(session_id=s.pk, now=now)
    before = list(SessionMinute.objects.filter(session=s).values())
    # when flushed again, and after Redis lost the counts
    session_metrics_flush(session_id=s.pk, now=now)
    assert list(SessionMinute.objects.filter(session=s).values()) == before
    from server.redis import redis_client

    redis_client().flushdb()
    metrics.viewers_sample({s.pk: 1}, at=live["t"])
    session_metrics_flush(session_id=s.pk, now=now)
    # then nothing counted twice, nothing taken back
    assert list(SessionMinute.objects.filter(session=s).values()) == before


def test_closed_minutes_leave_the_flush_set(live):
    s = live["session"]
    later = timezone.now() + timedelta(minutes=10)
    assert session_metrics_flush(session_id=s.pk, now=later) == 3
    assert session_metrics_flush(session_id=s.pk, now=later) == 0
    # a late count re-opens its minute, and the flush raises it
    metrics.claims_record(session_id=s.pk, user_ids=[live["b3"].pk], at=live["t"])
    assert session_metrics_flush(session_id=s.pk, now=later) == 1
    assert SessionMinute.objects.get(session=s, minute=live["t"]).claims == 3


def test_report_csv(live, client_for):
    response = client_for(live["host"]).get(
        f"/api/sessions/{live['session'].pk}/report/?format=csv"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["minute", "viewers", "viewers_peak"]
    assert len(rows) == 1 + 3 + 1 + 1 + 1
    assert rows[-1] == [str(live["product"].pk), "Mango", "3", "6", "480.00", "1.0"]


def test_report_readers(live, client_for, make_user):
    path = f"/api/sessions/{live['session'].pk}/report/"
    other_host = user("otherhost", "host")
    other_promoter = user("otherpromo", "promoter")
    staff = make_user("viewer")
    type(staff).objects.filter(pk=staff.pk).update(is_staff=True)
    staff.refresh_from_db()
    assert client_for(None).get(path).status_code == 401
    for stranger in (other_host, other_promoter, live["b1"]):
        response = client_for(stranger).get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    promoter = client_for(live["promoter"]).get(path)
    assert promoter.status_code == 200 and promoter.json()["money"] is None
    assert client_for(staff).get(path).json()["money"]["farm_received"] == "380.00"
    assert client_for(live["host"]).get("/api/sessions/999999/report/").status_code == 404


def test_campaign_return(live, client_for):
    # given b1 had ordered from the farm before (so is not a new buyer there)
    response = client_for(live["promoter"]).get(f"/api/campaigns/{live['campaign'].pk}/stats/")
    assert response.status_code == 200, response.content
    stats = response.json()
    assert {k: stats[k] for k in (
        "claimed", "redeemed", "redemption_rate", "discount_given", "cost", "gmv", "orders",
        "buyers", "new_buyers", "new_buyers_platform", "return_on_cost", "drops", "funded_by",
    )} == {
        "claimed": 2, "redeemed": 1, "redemption_rate": 0.5, "discount_given": "16.00",
        "cost": "16.00", "gmv": "160.00", "orders": 1, "buyers": 1, "new_buyers": 1,
        "new_buyers_platform": 1, "return_on_cost": 10.0, "drops": 1, "funded_by": "promoter",
    }  # fmt: skip
    assert stats["sessions"] == [
        {"session": live["session"].pk, "title": "Live", "drops": 1, "claimed": 2,
         "redeemed": 1, "orders": 1, "gmv": "160.00", "discount_given": "16.00"},
    ]  # fmt: skip
    assert client_for(user("otherpromo", "promoter")).get(
        f"/api/campaigns/{live['campaign'].pk}/stats/"
    ).status_code == 404


def test_new_buyers_exclude_returning(live):
    from coupons.selectors import campaign_stats

    # given b4 ordered from the farm before using a coupon of the campaign
    b4 = user("b4")
    now = timezone.now()
    drop = drops.drop_open(
        session=live["session"], campaign=live["campaign"], actor=live["promoter"], quantity=1,
        duration_s=600, now=now,
    )  # fmt: skip
    claim = claims.claim_create(drop_id=drop.pk, user=b4, now=now)
    place_live(b4, live, qty=1, now=now)
    place_live(b4, live, qty=1, claim=claim.pk, now=now)
    # then b1 is new, b4 is not
    stats = campaign_stats(campaign=live["campaign"])
    assert (stats["buyers"], stats["new_buyers"], stats["new_buyers_platform"]) == (2, 1, 1)


def test_payouts(live, client_for):
    farm = live["farm"]
    o1, _, o3 = live["orders"]
    host = client_for(live["host"])
    statement = host.get(f"/api/farms/{farm.pk}/payouts/?from=2025-01-01&to=2025-02-28").json()
    rows = statement["orders"]
    paid = [(o["order"], o["payout"], o["fee"], o["promoter_discount"]) for o in rows]
    assert paid == [
        (o1.pk, "152.00", "8.00", "16.00"),
        (o3.pk, "228.00", "12.00", "0.00"),
    ]  # fmt: skip
    assert statement["totals"] == {
        "orders": 2, "total": "384.00", "promoter_discount": "16.00", "fee": "20.00",
        "payout": "380.00",
    }  # fmt: skip
    jan = host.get(f"/api/farms/{farm.pk}/payouts/?from=2025-01-01&to=2025-01-31").json()
    assert [o["order"] for o in jan["orders"]] == [o1.pk]
    rows = list(csv.reader(io.StringIO(host.get(
        f"/api/farms/{farm.pk}/payouts/?from=2025-01-01&to=2025-02-28&format=csv"
    ).content.decode())))  # fmt: skip
    assert rows[0][0] == "order" and rows[-1][0] == "total" and rows[-1][-1] == "380.00"
    # who may not
    for stranger in (user("otherhost", "host"), live["promoter"]):
        response = client_for(stranger).get(f"/api/farms/{farm.pk}/payouts/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    bad = host.get(f"/api/farms/{farm.pk}/payouts/?from=2025-13-01")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    backwards = host.get(f"/api/farms/{farm.pk}/payouts/?from=2025-02-01&to=2025-01-01")
    assert backwards.status_code == 400


def test_impact(live, client_for):
    cache.clear()
    response = client_for(None).get("/api/impact/?from=2025-01&to=2025-03")
    assert response.status_code == 200, response.content
    impact = response.json()
    assert impact["totals"] == {
        "income": "380.00", "income_poverty": "380.00", "orders": 2, "farms": 1,
        "households": 3, "households_poverty": 3, "income_per_household": "126.67",
    }  # fmt: skip
    assert impact["months"] == [
        {"month": "2025-01", "income": "152.00", "farms": 1, "households": 3, "orders": 1},
        {"month": "2025-02", "income": "228.00", "farms": 1, "households": 3, "orders": 1},
        {"month": "2025-03", "income": "0.00", "farms": 0, "households": 0, "orders": 0},
    ]
    assert impact["provinces"] == [
        {"province": "Nan", "income": "380.00", "income_poverty": "380.00", "farms": 1,
         "households": 3, "households_poverty": 3},
    ]  # fmt: skip
    assert impact["poverty_counties"] == [
        {"province": "Nan", "district": "Pua", "county_code": "5507", "income": "380.00",
         "farms": 1, "households": 3},
    ]  # fmt: skip
    other = client_for(None).get("/api/impact/?from=2025-01&to=2025-03&province=Chiang Rai")
    assert other.json()["totals"]["income"] == "0.00"
    for query in ("from=2025-00", "from=2025-03&to=2025-01", "from=2010-01&to=2025-01",
                  "province=%00x", "currency=XXX"):  # fmt: skip
        bad = client_for(None).get(f"/api/impact/?{query}")
        assert bad.status_code == 400, query
        assert bad.json()["error"]["code"] == "invalid"


def test_impact_is_cached(live, client_for):
    cache.clear()
    first = client_for(None).get("/api/impact/?from=2025-01&to=2025-03").json()
    Order.objects.filter(pk=live["orders"][1].pk).update(status="delivered", updated_at=JAN)
    assert client_for(None).get("/api/impact/?from=2025-01&to=2025-03").json() == first
    cache.clear()
    assert client_for(None).get("/api/impact/?from=2025-01&to=2025-03").json() != first



def test_report_pages(live, client):
    from django.test import Client

    # the host's post-live page: charts with a title, the numbers as tables
    client.force_login(live["host"])
    page = client.get(f"/reports/sessions/{live['session'].pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('role="img"') == 2 and "<title id=\"viewers-t\">" in html
    assert 'class="marker"' in html  # the drop's moment
    assert "480.00" in html and "380.00" in html
    assert "<script>" not in html and "onclick" not in html
    # someone else's session is not found
    stranger = Client()
    stranger.force_login(user("otherhost", "host"))
    assert stranger.get(f"/reports/sessions/{live['session'].pk}/").status_code == 404
    # the campaign's page, for its promoter only
    promoter = Client()
    promoter.force_login(live["promoter"])
    campaign = promoter.get(f"/promote/campaigns/{live['campaign'].pk}/")
    assert campaign.status_code == 200 and "160.00" in campaign.content.decode()
    assert stranger.get(f"/promote/campaigns/{live['campaign'].pk}/").status_code == 404
    # impact is public, hostile filters fall back to the defaults
    cache.clear()
    impact = Client().get("/impact/?from=2025-01&to=2025-03")
    assert impact.status_code == 200
    assert "380.00" in impact.content.decode() and 'role="img"' in impact.content.decode()
    assert Client().get("/impact/?from=2025-13&province=" + "x" * 500).status_code == 200
