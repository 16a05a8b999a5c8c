"""Campaigns, drops and claims over HTTP."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services as catalog
from coupons.models import Campaign, Claim, Drop
from coupons.services import campaigns
from coupons.services.reconcile import drop_reconcile
from server.accounts import services as accounts
from streams import services as streams
from tests.conftest import PASSWORD

# Drops build their gate after commit, so these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)

CAMPAIGN = {
    "name": "Mango season",
    "kind": "percent",
    "value": "10",
    "max_discount": "50.00",
    "min_spend": "200.00",
    "budget": 10,
    "per_user_limit": 2,
    "claim_ttl_s": 3600,
}


@pytest.fixture
def live(settings):
    settings.CLAIM_NEEDS_PRIOR_ACCOUNT = True
    now = timezone.now()
    host = accounts.user_register(username="host", password=PASSWORD, role="host")
    promoter = accounts.user_register(username="promo", password=PASSWORD, role="promoter")
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    session = streams.session_create(host=host, farm=farm, title="Live", now=now)
    streams.session_start(session=session, actor=host, now=now)
    return {"host": host, "promoter": promoter, "farm": farm, "session": session}


def early_user(name: str):
    """An account made before any drop opens."""
    user = accounts.user_register(username=name, password=PASSWORD)
    type(user).objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=3))
    user.refresh_from_db()
    return user


def test_promoter_creates_campaign_and_host_drops_and_viewer_claims(live, client_for):
    promoter_api = client_for(live["promoter"])
    created = promoter_api.post(
        "/api/campaigns/", {**CAMPAIGN, "farms": [live["farm"].pk]}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "active"
    assert body["value"] == "10.00"
    assert body["issued"] == 0
    # the host opens a drop in their live session
    drop = client_for(live["host"]).post(
        f"/api/sessions/{live['session'].pk}/drops/",
        {"campaign": body["id"], "quantity": 3, "duration_s": 60},
        format="json",
    )
    assert drop.status_code == 201, drop.json()
    assert drop.json()["quantity"] == 3
    assert Campaign.objects.get().issued == 3
    # a viewer claims it
    viewer = early_user("nok")
    claim = client_for(viewer).post(f"/api/drops/{drop.json()['id']}/claim/")
    assert claim.status_code == 201, claim.json()
    assert claim.json()["code"].startswith("TL")
    again = client_for(viewer).post(f"/api/drops/{drop.json()['id']}/claim/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_claimed"
    mine = client_for(viewer).get("/api/me/coupons/").json()
    assert [c["code"] for c in mine["results"]] == [claim.json()["code"]]
    assert mine["results"][0]["status"] == "claimed"
    stats = promoter_api.get(f"/api/campaigns/{body['id']}/stats/").json()
    assert (stats["drops"], stats["claimed"], stats["redeemed"]) == (1, 1, 0)


def test_who_may_do_what(live, client_for, make_user):
    viewer = make_user()
    assert client_for(viewer).post("/api/campaigns/", CAMPAIGN, format="json").status_code == 403
    campaign = campaigns.campaign_create(
        owner=live["promoter"], farms=[live["farm"]], **{**CAMPAIGN, "value": Decimal("10")}
    )
    other_promoter = make_user("promoter")
    reply = client_for(other_promoter).patch(
        f"/api/campaigns/{campaign.pk}/", {"status": "paused"}, format="json"
    )
    assert reply.status_code == 404  # not visible to another promoter
    drop = client_for(viewer).post(
        f"/api/sessions/{live['session'].pk}/drops/",
        {"campaign": campaign.pk, "quantity": 1, "duration_s": 30},
        format="json",
    )
    # a viewer is told what a made-up campaign id gets
    assert drop.status_code == 404
    assert drop.json()["error"]["code"] == "not_found"
    assert not Drop.objects.exists()


def test_budget_holds_across_drops(live, client_for):
    campaign = campaigns.campaign_create(
        owner=live["promoter"],
        farms=[live["farm"]],
        **{**CAMPAIGN, "value": Decimal("10"), "budget": 5},
    )
    api = client_for(live["host"])
    url = f"/api/sessions/{live['session'].pk}/drops/"
    assert (
        api.post(
            url, {"campaign": campaign.pk, "quantity": 4, "duration_s": 30}, format="json"
        ).status_code
        == 201
    )
    over = api.post(url, {"campaign": campaign.pk, "quantity": 2, "duration_s": 30}, format="json")
    assert over.status_code == 400
    assert over.json()["error"]["fields"]["quantity"] == ["At most 1."]
    assert Campaign.objects.get().issued == 4


def test_fresh_account_cannot_claim(live, client_for):
    campaign = campaigns.campaign_create(
        owner=live["promoter"], farms=[live["farm"]], **{**CAMPAIGN, "value": Decimal("10")}
    )
    drop = (
        client_for(live["host"])
        .post(
            f"/api/sessions/{live['session'].pk}/drops/",
            {"campaign": campaign.pk, "quantity": 3, "duration_s": 60},
            format="json",
        )
        .json()
    )
    bot = accounts.user_register(username="bot1", password=PASSWORD)  # made after the drop
    reply = client_for(bot).post(f"/api/drops/{drop['id']}/claim/")
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "forbidden"
    assert not Claim.objects.exists()


def test_sold_out_and_per_user_limit(live, client_for):
    campaign = campaigns.campaign_create(
        owner=live["promoter"],
        farms=[live["farm"]],
        **{**CAMPAIGN, "value": Decimal("10"), "per_user_limit": 1},
    )
    api = client_for(live["host"])
    url = f"/api/sessions/{live['session'].pk}/drops/"
    first = api.post(
        url, {"campaign": campaign.pk, "quantity": 2, "duration_s": 60}, format="json"
    ).json()
    second = api.post(
        url, {"campaign": campaign.pk, "quantity": 2, "duration_s": 60}, format="json"
    ).json()
    a, b, c = early_user("a"), early_user("b"), early_user("c")
    assert client_for(a).post(f"/api/drops/{first['id']}/claim/").status_code == 201
    assert client_for(b).post(f"/api/drops/{first['id']}/claim/").status_code == 201
    sold_out = client_for(c).post(f"/api/drops/{first['id']}/claim/")
    assert sold_out.json()["error"]["code"] == "sold_out"
    limit = client_for(a).post(f"/api/drops/{second['id']}/claim/")
    assert limit.json()["error"]["code"] == "limit_reached"
    drop = Drop.objects.get(pk=first["id"])
    assert (drop.claimed, drop.state, drop.close_reason) == (2, "closed", "exhausted")
    assert drop_reconcile(drop=Drop.objects.get(pk=second["id"]), now=timezone.now()) == "ok"


def test_unknown_and_closed_drops(live, client_for):
    viewer = early_user("v")
    missing = client_for(viewer).post("/api/drops/999999/claim/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_a_claim_while_the_gate_is_unreachable_says_try_again(live, client_for, monkeypatch):
    """Redis down mid-drop: 503 ``unavailable`` with ``Retry-After``, never a 500, and no
    coupon is handed out; once it is back the same claim succeeds."""
    import redis

    from server import gate

    created = client_for(live["promoter"]).post(
        "/api/campaigns/", {**CAMPAIGN, "farms": [live["farm"].pk]}, format="json"
    )
    drop = (
        client_for(live["host"])
        .post(
            f"/api/sessions/{live['session'].pk}/drops/",
            {"campaign": created.json()["id"], "quantity": 3, "duration_s": 60},
            format="json",
        )
        .json()
    )
    viewer = client_for(early_user("dao"))
    real_client = gate.redis_client
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    monkeypatch.setattr(gate, "redis_client", lambda: dead)
    down = viewer.post(f"/api/drops/{drop['id']}/claim/")
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "unavailable"
    assert down.headers["Retry-After"] == "2"
    assert not Claim.objects.exists()
    monkeypatch.setattr(gate, "redis_client", real_client)
    assert viewer.post(f"/api/drops/{drop['id']}/claim/").status_code == 201
