"""Keep every drop's gate true to the database (beat runs ``reconcile_all`` every few seconds).

- An admission whose process never settled it (it died between gate and database) is
  settled once it expires: confirmed if its claim row exists, given back if not.
- Drift (a bug, a manual fix in the database) is corrected when nothing is in flight.
- A gate whose keys are gone while its drop is open (Redis restarted or was flushed) admits
  nobody; once every admission made before the loss has expired, it is rebuilt from rows.
"""

from datetime import datetime, timedelta

from django.db import transaction

from coupons.models import CampaignUser, Claim, Drop, DropState
from coupons.services.drops import drop_gate, drops_needing_attention, gate_build, gate_facts
from server.gate import PENDING_TTL_S

REBUILD_AFTER = timedelta(seconds=PENDING_TTL_S + 2)


def drop_reconcile(*, drop: Drop, now: datetime) -> str:
    """One drop; returns what it did: ok, corrected, busy, settled, lost, waiting, rebuilt,
    closed."""
    gate = drop_gate(drop)
    if not gate.exists():
        return _gate_lost(drop=drop, now=now)
    if drop.gate_lost_at is not None:
        Drop.objects.filter(pk=drop.pk).update(gate_lost_at=None)
    settled = 0
    for token in gate.expired_pending(now=now.timestamp()):
        if Claim.objects.filter(code=token).exists():
            settled += gate.confirm(token=token)
        else:
            settled += gate.compensate(token=token)
    versions = gate.versions()
    drop.refresh_from_db()
    left, unit_users = gate_facts(drop)
    scope_users = dict(
        CampaignUser.objects.filter(campaign_id=drop.campaign_id, held__gt=0).values_list(
            "user_id", "held"
        )
    )
    outcome = gate.correct(
        versions=versions, left=left, unit_users=unit_users, scope_users=scope_users
    )
    return "settled" if settled and outcome == "ok" else outcome


def _gate_lost(*, drop: Drop, now: datetime) -> str:
    if drop.state != DropState.OPEN:
        return "closed"
    if drop.gate_lost_at is None:
        Drop.objects.filter(pk=drop.pk, gate_lost_at__isnull=True).update(gate_lost_at=now)
        return "lost"
    if now < drop.gate_lost_at + REBUILD_AFTER:
        return "waiting"
    with transaction.atomic():
        drop = Drop.objects.select_for_update().select_related("campaign").get(pk=drop.pk)
        gate_build(drop, with_scope=True)
        Drop.objects.filter(pk=drop.pk).update(gate_lost_at=None)
    return "rebuilt"


def reconcile_all(*, now: datetime) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for drop in drops_needing_attention(now):
        outcome = drop_reconcile(drop=drop, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
