"""Reports: a session with known viewers, chat, claims and orders, built through the services
(tests/integration/report_world.py); every number of the report, the campaign's return, the
farm's payouts and the impact page checked exactly, and who may read each."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from coupons.services import claims, drops
from streams import metrics
from streams.metrics_store import session_metrics_flush
from streams.models import SessionMinute
from tests.integration.order_world import place_live, user
from tests.integration.report_world import JAN, deliver, report_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live():
    return report_world()


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
    assert response.content.startswith("\ufeff".encode())  # Excel reads UTF-8 only with its BOM
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
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
    ).content.decode("utf-8-sig"))))  # fmt: skip
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
    deliver(live["orders"][1], live["host"], JAN)
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


def _resolved(node, components):
    """``node`` with every ``$ref`` into ``components`` replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(components[node["$ref"].rsplit("/", 1)[1]], components)
        return {k: _resolved(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v, components) for v in node]
    return node


def test_answers_match_the_published_schema(live, client_for):
    from openapi_schema_validator import OAS30Validator

    cache.clear()
    schema = client_for(None).get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    components = schema["components"]["schemas"]

    def check(path: str, template: str, reply) -> None:
        assert reply.status_code == 200, reply.content
        operation = schema["paths"][template]["get"]
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        OAS30Validator(_resolved(body, components)).validate(reply.json())
        # every field documented is required and present (no silent drift either way)
        assert set(_resolved(body, components)["properties"]) == set(reply.json()), path

    s, farm = live["session"].pk, live["farm"].pk
    host, promoter = client_for(live["host"]), client_for(live["promoter"])
    for client, path, template in (
        (host, f"/api/sessions/{s}/report/", "/api/sessions/{session_id}/report/"),
        (promoter, f"/api/sessions/{s}/report/", "/api/sessions/{session_id}/report/"),
        (host, f"/api/farms/{farm}/payouts/?from=2025-01-01&to=2025-02-28",
         "/api/farms/{farm_id}/payouts/"),
        (promoter, f"/api/campaigns/{live['campaign'].pk}/stats/", "/api/campaigns/{id}/stats/"),
        (client_for(None), "/api/impact/?from=2025-01&to=2025-03", "/api/impact/"),
    ):  # fmt: skip
        check(path, template, client.get(path))
    csv_type = schema["paths"]["/api/sessions/{session_id}/report/"]["get"]["responses"]["200"]
    assert "text/csv" in csv_type["content"]


def test_a_day_and_a_month_are_the_farms_in_the_api_too(live, client_for):
    # given: an order settled at 01:30 on 1 April in Thailand (still 31 March in UTC)
    cache.clear()
    farm, order = live["farm"], live["orders"][1]
    deliver(order, live["host"], datetime(2025, 3, 31, 18, 30, tzinfo=UTC))
    # then: April's payouts and April's impact hold it, March's do not
    host = client_for(live["host"])
    april = host.get(f"/api/farms/{farm.pk}/payouts/?from=2025-04-01&to=2025-04-01").json()
    assert [o["order"] for o in april["orders"]] == [order.pk]
    march = host.get(f"/api/farms/{farm.pk}/payouts/?from=2025-03-01&to=2025-03-31").json()
    assert order.pk not in [o["order"] for o in march["orders"]]
    impact = client_for(None).get("/api/impact/?from=2025-04&to=2025-04")
    assert impact.status_code == 200, impact.content
    assert [(m["month"], m["orders"]) for m in impact.json()["months"]] == [("2025-04", 1)]
