"""Claims: the race for a drop's coupons.

``claim_create`` (and ``claim_create_async`` for the WebSocket) asks the gate first; a
refused claim is answered from Redis alone. An admitted one is written to the database in
one transaction guarded by conditional updates and a unique constraint (``claim_writes``),
and only then is the user told "yours". The gate admission is settled either way:
confirmed after commit, compensated when the write was refused.

On the WebSocket path, winners admitted while a write is under way share the next
transaction (``group_commit``, whose batch is one statement: ``claim_sql``). Which gate a
drop's claims go to is looked up without the database (``gate_scopes``); coupons given back
or expired are ``expiry``'s.
"""

import asyncio
import secrets
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from coupons import events
from coupons.errors import (
    AccountTooNew,
    AlreadyClaimed,
    DropClosed,
    GateRestoring,
    LimitReached,
    SoldOut,
)
from coupons.models import Claim, Drop
from coupons.services.claim_writes import AdmittedClaim, claim_record
from coupons.services.drops import drop_gate
from coupons.services.gate_scopes import gate_from_db, gate_from_scope, scope_async, scope_sync
from coupons.services.group_commit import winner_writer
from server.accounts.models import User
from server.errors import DomainError, NotFound, RateLimited
from server.gate import Admission

# Claims per seconds, per user in a campaign, across every node: counted by the gate's
# script in the admission's own round trip (a separate rate-limit call cost a second one).
CLAIM_RATE = (10, 10.0)
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on a live


def new_code() -> str:
    """A claim's code, also its gate token: made for every claim, losers too, so from one
    read of the OS's randomness (256 is a multiple of the alphabet's 32: no bias)."""
    return "TL" + "".join(_CODE_ALPHABET[b & 31] for b in secrets.token_bytes(10))


def _refusal(admission: Admission) -> DomainError:
    status = admission.status
    if status == "rate_limited":
        return RateLimited("Too many claims; wait a few seconds.", retry_after_s=int(CLAIM_RATE[1]))
    if status == "gone":
        return GateRestoring(
            "The coupon counter is being restored; try again in a few seconds.", retry_after_s=5
        )
    if status == "not_open":
        return DropClosed("This drop has not opened yet.")
    if status == "closed":
        return DropClosed("This drop is closed.")
    if status == "too_new":
        return AccountTooNew("Accounts made after this drop opened cannot claim it.")
    if status == "already":
        return AlreadyClaimed("You already have a coupon from this drop.")
    if status == "limit":
        return LimitReached("You hold as many coupons of this campaign as one person may.")
    return SoldOut("All coupons of this drop are taken.")


def _request(user: User, now: datetime) -> dict[str, Any]:
    """What the gate is asked for one claim, the same on the REST and WebSocket paths."""
    return {
        "user": user.pk,
        "token": new_code(),
        "joined": user.date_joined.timestamp(),
        "now": now.timestamp(),
        "attempts": CLAIM_RATE,
    }


def claim_create(*, drop_id: int, user: User, now: datetime) -> Claim:
    """The synchronous claim (REST). Raises the refusals of ``_refusal`` and
    ``claim_record``, ``RateLimited``, ``NotFound``."""
    gate = gate_from_scope(drop_id, scope_sync(drop_id)) or gate_from_db(drop_id)
    admission = gate.admit(**_request(user, now))
    if not admission.admitted:
        if admission.status == "gone" and not Drop.objects.filter(pk=drop_id).exists():
            raise NotFound("No such drop.")
        raise _refusal(admission)
    return claim_record(gate=gate, admission=admission, drop_id=drop_id, user=user, now=now)


async def claim_create_async(*, drop_id: int, user: User, now: datetime) -> Claim:
    """The WebSocket claim: the gate is asked on the event loop, so losers never wait for a
    thread or the database; winners are written in batches on a worker thread (not the
    single thread Channels shares for ORM calls), see ``group_commit``."""
    gate = gate_from_scope(drop_id, await scope_async(drop_id))
    if gate is None:
        gate = await database_sync_to_async(gate_from_db, thread_sensitive=False)(drop_id)
    admission = await gate.aadmit(**_request(user, now))
    if not admission.admitted:
        raise _refusal(admission)
    await _fault_pause_after_admit()
    return await winner_writer().write(
        AdmittedClaim(gate=gate, admission=admission, drop_id=drop_id, user=user, now=now)
    )


async def _fault_pause_after_admit() -> None:
    """Fault-injection seam, for tests only: hold an admitted claim this long before its
    write, so a test can SIGKILL the process while the admission is pending
    (tests/integration/test_coupon_storm.py). ``COUPON_FAULT_PAUSE_AFTER_ADMIT_S`` is absent
    from server/settings.py on purpose (0: no pause); it is read per call so only a process
    started with a test's own settings module ever pauses."""
    pause = getattr(settings, "COUPON_FAULT_PAUSE_AFTER_ADMIT_S", 0)
    if pause:
        await asyncio.sleep(pause)


def coupon_left_event(drop: Drop) -> events.CouponLeft | None:
    left = drop_gate(drop).left()
    return None if left is None else events.CouponLeft(drop=drop.pk, left=left)
