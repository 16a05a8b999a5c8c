"""Group commit for admitted claims: winners admitted while a write is under way share the
next transaction, one update of the drop's row for many claim rows."""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.db import DatabaseError
from redis.exceptions import RedisError

from coupons.models import Claim, CloseReason, Drop
from coupons.services.claim_sql import write_many
from coupons.services.claim_writes import AdmittedClaim, claim_record
from coupons.services.drops import drop_close
from server.loops import LoopLocal
from streams import metrics

log = logging.getLogger(__name__)

WRITE_BATCH_MAX = 200


class _WinnerWriter:
    """Group commit for one event loop's admitted claims.

    Every winner holds the drop's row lock from its conditional update to its commit, so one
    transaction per winner serialises them on that row (a storm measured 50-90 winners/s,
    about the naive row lock's rate). Here, while one batch is being written, the winners
    admitted meanwhile queue up, and the next write takes them all: one transaction, one
    update of the drop's row, as many rows as winners. Nothing waits on a timer; a claim
    alone is written alone.
    """

    def __init__(self) -> None:
        self.queue: list[tuple[AdmittedClaim, asyncio.Future[Claim]]] = []
        self.task: asyncio.Task[None] | None = None

    async def write(self, item: AdmittedClaim) -> Claim:
        future: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        self.queue.append((item, future))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())
        # Shielded: a viewer who leaves mid-write does not cancel the others' batch.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:WRITE_BATCH_MAX], self.queue[WRITE_BATCH_MAX:]
            results: list[Claim | BaseException]
            try:
                results = await database_sync_to_async(claims_record_batch, thread_sensitive=False)(
                    items=[item for item, _ in batch]
                )
            except asyncio.CancelledError:
                # The loop is shutting down: nobody waits for an answer forever.
                for _, future in [*batch, *self.queue]:
                    future.cancel()
                raise
            except Exception as exc:  # the worker itself failed: every claim hears it
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


_writers = LoopLocal(_WinnerWriter)


def winner_writer() -> _WinnerWriter:
    """This event loop's writer (a web process has one loop; tests make many)."""
    return _writers.get()


def claims_record_batch(*, items: list[AdmittedClaim]) -> list[Claim | BaseException]:
    """Write admitted claims, several per transaction, and settle their admissions; returns,
    per item, its claim or the refusal ``claim_record`` gives it. A batch the database's
    guards refuse as a whole (gate drift, a Redis flush, a duplicate) is written claim by
    claim instead, so each claim gets its own exact answer."""
    results: dict[int, Claim | BaseException] = {}
    by_drop: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_drop.setdefault(item.drop_id, []).append(i)
    for drop_id, indexes in by_drop.items():
        group = [items[i] for i in indexes]
        written = write_many(drop_id=drop_id, group=group) if len(group) > 1 else None
        if written is not None:
            claims, exhausted, session_id = written
            # The rows are committed: these users hold their coupons whatever happens next.
            # An admission left unconfirmed is confirmed by reconcile once it expires.
            try:
                group[0].gate.confirm_many(tokens=[item.admission.token for item in group])
            except RedisError:
                log.warning("could not confirm %d admissions of drop %s", len(group), drop_id)
            metrics.claims_record(
                session_id=session_id,
                user_ids=[item.user.pk for item in group],
                at=group[-1].now,
            )
            if exhausted:
                try:
                    drop = Drop.objects.get(pk=drop_id)
                    drop_close(drop=drop, reason=CloseReason.EXHAUSTED, now=group[-1].now)
                except DatabaseError:  # beat closes it when its time is up
                    log.exception("could not close exhausted drop %s", drop_id)
            results.update(zip(indexes, claims, strict=True))
            continue
        for i, item in zip(indexes, group, strict=True):
            try:
                results[i] = claim_record(
                    gate=item.gate, admission=item.admission, drop_id=drop_id,
                    user=item.user, now=item.now,
                )  # fmt: skip
            except Exception as exc:
                results[i] = exc
    return [results[i] for i in range(len(items))]

