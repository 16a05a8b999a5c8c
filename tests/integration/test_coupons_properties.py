"""Property tests: any interleaving of admissions, writes, crashes, releases, expiries,
closes and reconciles keeps the coupon invariants, on real PostgreSQL and Redis.

A claim is two steps with a gap between them (the gate in Redis, then the row in
PostgreSQL), so the operations below split it: hypothesis interleaves other users' steps in
the gap, and "crash" abandons an admission the way a killed process would.
"""

import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import services as catalog
from coupons.errors import AlreadyClaimed, DropClosed, GateRestoring, LimitReached, SoldOut
from coupons.models import HELD, Campaign, CampaignUser, Claim, ClaimStatus, Drop
from coupons.services import campaigns, claims, drops, expiry
from coupons.services.claim_writes import claim_record
from coupons.services.reconcile import reconcile_all
from server.accounts import services as accounts
from server.gate import PENDING_TTL_S
from server.redis import redis_client
from streams import services as streams
from tests.conftest import PASSWORD
from tests.integration.coupon_checks import assert_gate_equals_database

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 4
DROPS = 2
BUDGET = 7
PER_USER = 2
QUANTITIES = (3, 3)

operation = st.one_of(
    st.tuples(st.just("admit"), st.integers(0, USERS - 1), st.integers(0, DROPS - 1)),
    st.tuples(st.just("record"), st.integers(0, 20)),
    st.tuples(st.just("crash"), st.integers(0, 20)),
    st.tuples(st.just("release"), st.integers(0, USERS - 1)),
    st.tuples(st.just("expire"), st.integers(0, 20)),
    st.tuples(st.just("close"), st.integers(0, DROPS - 1)),
    st.tuples(st.just("reconcile"), st.booleans()),
)


@pytest.fixture
def world(settings):
    settings.CLAIM_NEEDS_PRIOR_ACCOUNT = False
    host = accounts.user_register(username="host", password=PASSWORD, role="host")
    promoter = accounts.user_register(username="promo", password=PASSWORD, role="promoter")
    users = [accounts.user_register(username=f"u{i}", password=PASSWORD) for i in range(USERS)]
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    session = streams.session_create(host=host, farm=farm, title="Live", now=timezone.now())
    streams.session_start(session=session, actor=host, now=timezone.now())
    return {"host": host, "promoter": promoter, "users": users, "session": session, "farm": farm}


def _fresh_drops(world) -> tuple[Campaign, list[Drop]]:
    Claim.objects.all().delete()
    CampaignUser.objects.all().delete()
    Drop.objects.all().delete()
    Campaign.objects.all().delete()
    redis_client().flushdb()
    campaign = campaigns.campaign_create(
        owner=world["promoter"],
        name="c",
        kind="fixed",
        value=Decimal("20"),
        budget=BUDGET,
        per_user_limit=PER_USER,
        claim_ttl_s=3600,
        farms=[world["farm"]],
    )
    made = [
        drops.drop_open(
            session=world["session"],
            campaign=campaign,
            actor=world["host"],
            quantity=q,
            duration_s=600,
            now=timezone.now(),
        )
        for q in QUANTITIES
    ]
    return campaign, made


def _check_invariants(campaign: Campaign, made: list[Drop]) -> None:
    campaign.refresh_from_db()
    assert campaign.issued <= campaign.budget
    held_total = 0
    for drop in made:
        drop.refresh_from_db()
        held = Claim.objects.filter(drop=drop, status__in=HELD).count()
        assert held <= drop.quantity
        assert drop.claimed == held
        held_total += held
        # never two rows for one user in one drop
        assert (
            not Claim.objects.filter(drop=drop)
            .values("user")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .exists()
        )
    assert held_total <= campaign.budget
    per_user = (
        Claim.objects.filter(campaign=campaign, status__in=HELD)
        .values("user")
        .annotate(n=Count("id"))
    )
    assert all(row["n"] <= campaign.per_user_limit for row in per_user)
    for holder in CampaignUser.objects.filter(campaign=campaign):
        assert (
            holder.held
            == Claim.objects.filter(campaign=campaign, user=holder.user, status__in=HELD).count()
        )


def _check_gate_equals_database(campaign: Campaign, made: list[Drop]) -> None:
    for drop in made:
        assert_gate_equals_database(drop)
    held = dict(
        CampaignUser.objects.filter(campaign=campaign, held__gt=0).values_list("user_id", "held")
    )
    assert drops.drop_gate(made[0]).scope_users() == held


@settings(
    max_examples=40,
    deadline=None,
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, max_size=30))
def test_any_interleaving_keeps_the_invariants(world, ops):
    campaign, made = _fresh_drops(world)
    pending: list[tuple] = []  # (gate, admission, drop, user) admitted, not yet written
    now = timezone.now()
    for op in ops:
        kind = op[0]
        if kind == "admit":
            user, drop = world["users"][op[1]], made[op[2]]
            gate = drops.drop_gate(drop)
            admission = gate.admit(user=user.pk, token=claims.new_code())
            if admission.admitted:
                pending.append((gate, admission, drop, user))
        elif kind in ("record", "crash") and pending:
            gate, admission, drop, user = pending.pop(op[1] % len(pending))
            if kind == "record":
                with contextlib.suppress(SoldOut, DropClosed, LimitReached, AlreadyClaimed):
                    claim_record(
                        gate=gate,
                        admission=admission,
                        drop_id=drop.pk,
                        user=user,
                        now=timezone.now(),
                    )
            # "crash": the process died holding the admission; reconcile settles it later
        elif kind == "release":
            claim = Claim.objects.filter(
                user=world["users"][op[1]], status=ClaimStatus.CLAIMED
            ).first()
            if claim:
                expiry.claim_release(claim=claim, now=timezone.now())
        elif kind == "expire":
            claim = (
                Claim.objects.filter(status=ClaimStatus.CLAIMED)
                .order_by("id")[op[1] % 5 : op[1] % 5 + 1]
                .first()
            )
            if claim:
                Claim.objects.filter(pk=claim.pk).update(expires_at=now - timedelta(seconds=1))
                expiry.claims_expire(now=timezone.now())
        elif kind == "close":
            drops.drop_close(drop=made[op[1]], reason="cancelled", now=timezone.now())
        elif kind == "reconcile":
            later = timezone.now() + timedelta(seconds=PENDING_TTL_S + 1 if op[1] else 0)
            reconcile_all(now=later)
        _check_invariants(campaign, made)
    # every abandoned admission expires; reconcile settles it and the gate equals the rows
    # admissions still in ``pending`` stay unsettled on purpose: their processes "died"
    reconcile_all(now=timezone.now() + timedelta(seconds=PENDING_TTL_S + 1))
    reconcile_all(now=timezone.now() + timedelta(seconds=PENDING_TTL_S + 1))
    _check_invariants(campaign, made)
    _check_gate_equals_database(campaign, made)


def test_gate_refuses_after_flush_and_is_rebuilt_only_after_admissions_expire(world):
    campaign, made = _fresh_drops(world)
    drop = made[0]
    a, b, c = world["users"][:3]
    won = claims.claim_create(drop_id=drop.pk, user=a, now=timezone.now())
    # an admission in flight when Redis loses everything
    gate = drops.drop_gate(drop)
    in_flight = gate.admit(user=b.pk, token=claims.new_code())
    assert in_flight.admitted
    redis_client().flushdb()
    with pytest.raises(GateRestoring) as refused:
        claims.claim_create(drop_id=drop.pk, user=c, now=timezone.now())
    assert refused.value.code == "conflict"
    # the writer finishes after the flush: its row lands, settling is a no-op
    claim_record(gate=gate, admission=in_flight, drop_id=drop.pk, user=b, now=timezone.now())
    now = timezone.now()
    assert reconcile_all(now=now) == {"lost": 2}
    assert reconcile_all(now=now + timedelta(seconds=5)) == {"waiting": 2}
    with pytest.raises(GateRestoring):
        claims.claim_create(drop_id=drop.pk, user=c, now=timezone.now())
    assert reconcile_all(now=now + timedelta(seconds=PENDING_TTL_S + 3)) == {"rebuilt": 2}
    # rebuilt from rows: one unit left of 3, a and b cannot claim again
    assert gate.left() == 1
    claims.claim_create(drop_id=drop.pk, user=c, now=timezone.now())
    drop.refresh_from_db()
    assert drop.claimed == 3
    assert {cl.user_id for cl in Claim.objects.filter(drop=drop)} == {a.pk, b.pk, c.pk}
    assert won.code in set(Claim.objects.values_list("code", flat=True))
    _check_invariants(campaign, made)


def test_admission_of_a_dead_process_is_given_back_by_reconcile(world):
    campaign, made = _fresh_drops(world)
    drop = made[0]
    gate = drops.drop_gate(drop)
    users = world["users"]
    # three admissions whose process dies before writing: the drop looks sold out
    for user in users[:3]:
        assert gate.admit(user=user.pk, token=claims.new_code()).admitted
    with pytest.raises(SoldOut):
        claims.claim_create(drop_id=drop.pk, user=users[3], now=timezone.now())
    # not yet expired: nothing changes
    assert reconcile_all(now=timezone.now())["busy"] >= 1
    assert gate.left() == 0
    # expired: compensated, the units are claimable again and nothing was lost
    reconcile_all(now=timezone.now() + timedelta(seconds=PENDING_TTL_S + 1))
    assert gate.left() == 3
    claims.claim_create(drop_id=drop.pk, user=users[3], now=timezone.now())
    _check_invariants(campaign, made)
    assert Claim.objects.filter(drop=drop, status__in=HELD).count() == 1
    assert not Claim.objects.filter(~Q(user=users[3])).exists()
