"""Who may spend a campaign, what a campaign may say, and what a claim keeps: over HTTP
against real PostgreSQL and Redis (docs/api.md, "Campaigns and drops")."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog
from coupons import live as coupons_live
from coupons.models import Campaign, Claim, Drop
from coupons.services import drops
from coupons.services.claim_writes import AdmittedClaim
from coupons.services.claims import new_code
from coupons.services.group_commit import claims_record_batch
from server.accounts import services as accounts
from server.publisher import replay
from streams import services as streams
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

TERMS = {
    "name": "Harvest", "kind": "percent", "value": "10", "max_discount": "50.00",
    "min_spend": "100.00", "budget": 20, "per_user_limit": 1, "claim_ttl_s": 3600,
}  # fmt: skip


def _live_farm(name: str) -> dict:
    """A host, its farm, a product and a live session."""
    now = timezone.now()
    host = accounts.user_register(username=f"{name}-host", password=PASSWORD, role="host")
    farm = catalog.farm_create(owner=host, name=f"{name} farm", province="Nan", district="Pua")
    product = catalog.product_create(
        actor=host, farm=farm, name=f"{name} mango", unit="kg", price=Decimal("80"), stock=50
    )
    session = streams.session_create(host=host, farm=farm, title=name, now=now)
    streams.session_start(session=session, actor=host, now=now)
    return {"host": host, "farm": farm, "product": product, "session": session}


@pytest.fixture
def world(settings) -> dict:
    settings.CLAIM_NEEDS_PRIOR_ACCOUNT = False
    promoter = accounts.user_register(username="promo", password=PASSWORD, role="promoter")
    return {"promoter": promoter, "a": _live_farm("a"), "b": _live_farm("b")}


def _campaign(api, **fields) -> dict:
    reply = api.post("/api/campaigns/", {**TERMS, **fields}, format="json")
    assert reply.status_code == 201, reply.json()
    return reply.json()


def _drop(api, session, campaign_id, quantity=3):
    return api.post(
        f"/api/sessions/{session.pk}/drops/",
        {"campaign": campaign_id, "quantity": quantity, "duration_s": 60},
        format="json",
    )


def _frames(session_id: int, kind: str) -> list[dict]:
    frames = [json.loads(frame) for _, frame in replay(session_id, 0) or []]
    return [f["data"] for f in frames if f["type"] == kind]


# --- who spends a campaign's budget ---------------------------------------------------------


def test_another_host_cannot_spend_a_promoters_campaign(world, client_for):
    # given a promoter's campaign for farm A, naming farm A's product
    a, b = world["a"], world["b"]
    campaign = _campaign(
        client_for(world["promoter"]), farms=[a["farm"].pk], products=[a["product"].pk]
    )
    unscoped = _campaign(client_for(world["promoter"]), name="Anywhere")
    host_b = client_for(b["host"])

    # when farm B's host drops from it, from an unscoped one, and from an id that does not exist
    stolen = _drop(host_b, b["session"], campaign["id"])
    stolen_unscoped = _drop(host_b, b["session"], unscoped["id"])
    made_up = _drop(host_b, b["session"], 999_999)

    # then each is told the same: no such campaign, and nothing about its budget
    assert stolen.status_code == stolen_unscoped.status_code == made_up.status_code == 404
    assert stolen.json() == stolen_unscoped.json() == made_up.json()
    assert stolen.json() == {"error": {"code": "not_found", "message": "No such campaign."}}
    assert not Drop.objects.exists()
    assert set(Campaign.objects.values_list("issued", flat=True)) == {0}


def test_a_host_drops_from_a_campaign_naming_its_farm_or_its_own_vouchers(world, client_for):
    a = world["a"]
    host_a = client_for(a["host"])
    promoted = _campaign(client_for(world["promoter"]), farms=[a["farm"].pk])
    for_session = _campaign(client_for(world["promoter"]), sessions=[a["session"].pk])
    own = _campaign(host_a, name="Our voucher", funded_by="farm", farms=[a["farm"].pk])
    assert own["owner"] == a["host"].pk
    for campaign in (promoted, for_session, own):
        reply = _drop(host_a, a["session"], campaign["id"])
        assert reply.status_code == 201, reply.json()
        assert reply.json()["quantity"] == 3
    assert list(Campaign.objects.order_by("pk").values_list("issued", flat=True)) == [3, 3, 3]


def test_a_products_scope_needs_one_of_its_products_in_the_showcase(world, client_for):
    a = world["a"]
    promoter = client_for(world["promoter"])
    campaign = _campaign(promoter, products=[a["product"].pk])

    refused = _drop(promoter, a["session"], campaign["id"])
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid"
    assert refused.json()["error"]["fields"] == {"campaign": ["None of its products is sold here."]}
    assert not Drop.objects.exists()
    assert Campaign.objects.get().issued == 0

    streams.showcase_add(
        session=a["session"], actor=a["host"], product=a["product"],
        live_price=Decimal("70"), allotment=10, now=timezone.now(),
    )  # fmt: skip
    assert _drop(promoter, a["session"], campaign["id"]).status_code == 201


def test_only_a_farms_own_host_funds_its_vouchers(world, client_for, make_user):
    a, b = world["a"], world["b"]
    farm_funded = {"funded_by": "farm", "farms": [a["farm"].pk]}
    by_promoter = client_for(world["promoter"]).post(
        "/api/campaigns/", {**TERMS, **farm_funded}, format="json"
    )
    by_other_host = client_for(b["host"]).post(
        "/api/campaigns/", {**TERMS, **farm_funded}, format="json"
    )
    other_product = client_for(a["host"]).post(
        "/api/campaigns/", {**TERMS, **farm_funded, "products": [b["product"].pk]}, format="json"
    )
    no_farm = client_for(a["host"]).post(
        "/api/campaigns/", {**TERMS, "funded_by": "farm"}, format="json"
    )
    host_as_promoter = client_for(a["host"]).post("/api/campaigns/", TERMS, format="json")
    for reply in (by_promoter, by_other_host, other_product, no_farm, host_as_promoter):
        assert reply.status_code == 403, reply.json()
        assert reply.json()["error"]["code"] == "forbidden"
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "percent", "value": "0"}, "value"),
        ({"kind": "percent", "value": "100.01"}, "value"),
        ({"kind": "percent", "value": "-5"}, "value"),
        ({"kind": "fixed", "value": "100000.01"}, "value"),
        ({"max_discount": "0"}, "max_discount"),
        ({"max_discount": "100000.01"}, "max_discount"),
        ({"min_spend": "100000.01"}, "min_spend"),
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_terms_out_of_bounds_are_refused(world, client_for, change, field):
    reply = client_for(world["promoter"]).post(
        "/api/campaigns/", {**TERMS, **change}, format="json"
    )
    assert reply.status_code == 400, reply.json()
    assert reply.json()["error"]["code"] == "invalid"
    assert field in reply.json()["error"]["fields"]
    assert not Campaign.objects.exists()


def test_known_currencies_and_bounds_are_accepted(world, client_for):
    promoter = client_for(world["promoter"])
    for currency in ("THB", "CNY", "USD"):
        assert _campaign(promoter, currency=currency)["currency"] == currency
    assert _campaign(promoter, kind="percent", value="100")["value"] == "100.00"
    assert _campaign(promoter, kind="fixed", value="100000", max_discount=None)["kind"] == "fixed"
    # an edit is held to the same bounds
    campaign = _campaign(promoter)
    edit = promoter.patch(f"/api/campaigns/{campaign['id']}/", {"value": "150"}, format="json")
    assert edit.status_code == 400
    assert Campaign.objects.get(pk=campaign["id"]).value == Decimal("10")


# --- closing drops ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["paused", "ended"])
def test_pausing_or_ending_a_campaign_closes_its_open_drops(world, client_for, make_user, status):
    a = world["a"]
    promoter = client_for(world["promoter"])
    campaign = _campaign(promoter, farms=[a["farm"].pk])
    drop = _drop(client_for(a["host"]), a["session"], campaign["id"]).json()
    viewer = make_user()
    assert client_for(viewer).post(f"/api/drops/{drop['id']}/claim/").status_code == 201

    reply = promoter.patch(f"/api/campaigns/{campaign['id']}/", {"status": status}, format="json")

    assert reply.status_code == 200, reply.json()
    closed = Drop.objects.get(pk=drop["id"])
    assert (closed.state, closed.close_reason, closed.claimed) == ("closed", "cancelled", 1)
    assert Campaign.objects.get().issued == 1  # the two unclaimed coupons went back
    assert _frames(a["session"].pk, "coupon.drop.closed") == [
        {"drop": drop["id"], "reason": "cancelled"}
    ]
    late = client_for(make_user()).post(f"/api/drops/{drop['id']}/claim/")
    assert late.json()["error"]["code"] == "drop_closed"
    mine = client_for(viewer).get("/api/me/coupons/").json()["results"]
    assert [c["status"] for c in mine] == ["claimed"]


def test_cancel_a_drop(world, client_for, make_user):
    a = world["a"]
    promoter = client_for(world["promoter"])
    campaign = _campaign(promoter, farms=[a["farm"].pk])
    drop = _drop(client_for(a["host"]), a["session"], campaign["id"]).json()
    viewer = make_user()
    won = client_for(viewer).post(f"/api/drops/{drop['id']}/claim/").json()
    url = f"/api/drops/{drop['id']}/cancel/"

    # neither a viewer, another host nor another promoter may
    for outsider in (viewer, world["b"]["host"], make_user("promoter")):
        refused = client_for(outsider).post(url)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    assert Drop.objects.get().state == "open"
    assert client_for(viewer).post("/api/drops/999999/cancel/").status_code == 404

    # the campaign's promoter may (the host opened it), once; again changes nothing
    first = promoter.post(url)
    assert first.status_code == 200, first.json()
    assert (first.json()["state"], first.json()["close_reason"]) == ("closed", "cancelled")
    closed_at = Drop.objects.get().closed_at
    again = client_for(a["host"]).post(url)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Drop.objects.get().closed_at == closed_at
    assert Campaign.objects.get().issued == 1
    assert _frames(a["session"].pk, "coupon.drop.closed") == [
        {"drop": drop["id"], "reason": "cancelled"}
    ]
    # the coupon claimed before stays valid
    mine = client_for(viewer).get("/api/me/coupons/").json()["results"]
    assert [(c["code"], c["status"]) for c in mine] == [(won["code"], "claimed")]


# --- the terms a claim keeps ----------------------------------------------------------------


def test_a_claim_keeps_the_terms_it_was_won_under(world, client_for, make_user):
    a = world["a"]
    promoter = client_for(world["promoter"])
    campaign = _campaign(promoter, farms=[a["farm"].pk])
    host = client_for(a["host"])
    first = _drop(host, a["session"], campaign["id"]).json()
    early = make_user()
    assert client_for(early).post(f"/api/drops/{first['id']}/claim/").status_code == 201

    edit = {"kind": "fixed", "value": "40", "max_discount": None, "min_spend": "300",
            "currency": "USD", "products": [a["product"].pk]}  # fmt: skip
    assert (
        promoter.patch(f"/api/campaigns/{campaign['id']}/", edit, format="json").status_code == 200
    )

    streams.showcase_add(
        session=a["session"], actor=a["host"], product=a["product"],
        live_price=Decimal("70"), allotment=10, now=timezone.now(),
    )  # fmt: skip
    second = _drop(host, a["session"], campaign["id"]).json()
    late = make_user()
    assert client_for(late).post(f"/api/drops/{second['id']}/claim/").status_code == 201

    [old] = client_for(early).get("/api/me/coupons/").json()["results"]
    assert (old["kind"], old["value"], old["max_discount"], old["min_spend"], old["currency"]) == (
        "percent", "10.00", "50.00", "100.00", "THB",
    )  # fmt: skip
    assert old["scope"] == {"farms": [a["farm"].pk], "products": [], "sessions": []}
    [new] = client_for(late).get("/api/me/coupons/").json()["results"]
    assert (new["kind"], new["value"], new["max_discount"], new["min_spend"], new["currency"]) == (
        "fixed", "40.00", None, "300.00", "USD",
    )  # fmt: skip
    assert new["scope"] == {
        "farms": [a["farm"].pk], "products": [a["product"].pk], "sessions": [],
    }  # fmt: skip


def test_the_group_writer_keeps_the_terms_too(world, client_for, make_user):
    a = world["a"]
    campaign = _campaign(client_for(world["promoter"]), farms=[a["farm"].pk], kind="fixed",
                         value="25", max_discount=None, currency="CNY")  # fmt: skip
    opened = _drop(client_for(a["host"]), a["session"], campaign["id"]).json()
    drop = Drop.objects.get(pk=opened["id"])
    gate = drops.drop_gate(drop)
    admitted = []
    for user in (make_user(), make_user()):
        admission = gate.admit(user=user.pk, token=new_code())
        admitted.append(AdmittedClaim(gate=gate, admission=admission, drop_id=drop.pk,
                                      user=user, now=timezone.now()))  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        written = claims_record_batch(items=admitted)

    # one statement wrote both rows (not the claim-by-claim fallback), terms and all
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["BEGIN", "WITH", "COMMIT"]
    terms = ("fixed", Decimal("25.00"), None, Decimal("100.00"), "CNY",
             {"farms": [a["farm"].pk], "products": [], "sessions": []})  # fmt: skip
    rows = Claim.objects.filter(drop=drop).values_list(
        "kind", "value", "max_discount", "min_spend", "currency", "scope"
    )
    assert list(rows) == [terms, terms]
    assert [(c.kind, c.value, c.max_discount, c.min_spend, c.currency, c.scope)
            for c in written] == [terms, terms]  # fmt: skip


# --- the live tick ---------------------------------------------------------------------------


def test_the_live_tick_takes_the_fleet_turn_before_any_query(world, client_for):
    a = world["a"]
    campaign = _campaign(client_for(world["promoter"]), farms=[a["farm"].pk])
    _drop(client_for(a["host"]), a["session"], campaign["id"])
    with CaptureQueriesContext(connection) as first:
        coupons_live.tick(a["session"].pk)
    with CaptureQueriesContext(connection) as second:  # another node, same interval
        coupons_live.tick(a["session"].pk)
    assert len(first.captured_queries) > 0
    assert second.captured_queries == []
    assert timezone.now() - Drop.objects.get().opens_at < timedelta(minutes=1)
