"""A session's labels in one PDF, built by a worker with its progress in Redis.

Hundreds of labels take seconds to lay out, too long for a request. The first request for a
session's labels starts one build (a Redis lock: concurrent requests and web nodes start no
second one) and hears "building, n of m"; later requests read the progress; once the file is
written, the next request gets it. A build's file is named by the fingerprint of the orders it
holds, so a stored PDF is served only while the session's orders to pack are unchanged:
anything that moves one (a new paid order, a cancellation, an order packed) changes the
fingerprint and the next request starts a new build.

The file is the record (``LABELS_DIR``, which every web node and worker must share in a
fleet); Redis holds only the lock and the progress, and losing them costs one rebuild.
"""

import logging
import math
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import translation
from kombu.exceptions import OperationalError as BrokerError

from orders.documents.common import with_details
from orders.documents.labels import labels_pdf, packing_sorted
from orders.models import Order, OrderStatus
from server.accounts.models import User
from server.errors import Forbidden, NotFound, Unavailable
from server.redis import Script, session_tag
from streams.models import LiveSession

log = logging.getLogger(__name__)

# Orders a seller packs: paid (waiting to be accepted), accepted (cash on delivery starts
# here) and packed (a label printed again). Unpaid, shipped and closed orders are not packed.
PACK_STATUSES = (OrderStatus.PAID, OrderStatus.ACCEPTED, OrderStatus.PACKED)
# A build's lock lives this long past its last sign of life: a dead worker's build is
# started again by the first request after it.
LOCK_TTL_S = 120
PROGRESS_TTL_S = 24 * 3600
# What one label costs to lay out, for the Retry-After a client waits (bench/labels).
SECONDS_PER_LABEL = 0.05

_START = Script("""
-- KEYS: lock, progress. ARGV: token, lock ttl, fingerprint, total, progress ttl.
-- Takes the build for this caller, or tells what the running build has done.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('HSET', KEYS[2], 'status', 'queued', 'done', 0, 'total', ARGV[4],
             'fingerprint', ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return {1, 'queued', 0, tonumber(ARGV[4])}
end
local p = redis.call('HMGET', KEYS[2], 'status', 'done', 'total')
return {0, p[1] or 'queued', tonumber(p[2] or 0), tonumber(p[3] or ARGV[4])}
""")

_PROGRESS = Script("""
-- KEYS: lock, progress. ARGV: token, lock ttl, status, done, total.
-- Only the lock's holder reports, and each report keeps its lock alive.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'status', ARGV[3], 'done', ARGV[4], 'total', ARGV[5])
return 1
""")

_RELEASE = Script("""
-- KEYS: lock. ARGV: token. Lets go of the lock only if it is still this build's.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


@dataclass(frozen=True)
class Ready:
    file: BinaryIO  # the stored PDF, open: a newer build may replace the name meanwhile


@dataclass(frozen=True)
class Pending:
    status: str  # queued | building
    done: int
    total: int

    @property
    def retry_after_s(self) -> int:
        return max(1, min(10, math.ceil((self.total - self.done) * SECONDS_PER_LABEL)))


def _keys(session_id: int, language: str) -> list[str]:
    base = f"labels:{session_tag(session_id)}:{language}"
    return [f"{base}:lock", f"{base}:progress"]


def _language(language: str) -> str:
    codes = {code for code, _ in settings.LANGUAGES}
    return language if language in codes else settings.LANGUAGE_CODE


def session_for_labels(*, session_id: int, user: User) -> LiveSession:
    """A session of the user's own farm. ``NotFound``, or ``Forbidden`` for another's
    (sessions are public, so saying it exists tells nothing)."""
    session = LiveSession.objects.select_related("farm").filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such session.")
    if session.farm.owner_id != user.pk:
        raise Forbidden("Labels are printed by the farm that hosts the session.")
    return session


def session_pack_orders(*, session_id: int) -> QuerySet[Order]:
    return Order.objects.filter(session_id=session_id, status__in=PACK_STATUSES)


def _digest(count: int, ids: int, last: datetime | None) -> str:
    """Which orders are to pack and when any of them last moved."""
    moved = last.isoformat() if last is not None else ""
    return sha256(f"{count}:{ids}:{moved}".encode()).hexdigest()[:20]


def _fingerprint(orders: QuerySet[Order]) -> tuple[str, int]:
    """(fingerprint, count) of the orders to pack, in one query."""
    seen = orders.aggregate(n=Count("id"), ids=Sum("id"), last=Max("updated_at"))
    return _digest(seen["n"], seen["ids"] or 0, seen["last"]), seen["n"]


def _path(session_id: int, language: str, fingerprint: str) -> Path:
    return Path(settings.LABELS_DIR) / f"session-{session_id}-{language}-{fingerprint}.pdf"


def session_labels(*, session_id: int, language: str) -> Ready | Pending:
    """The session's labels if a file for its current orders to pack exists, else the
    progress of the build that will write it (started here when none runs). Raises
    ``Unavailable`` when Redis or the broker is down."""
    language = _language(language)
    fingerprint, total = _fingerprint(session_pack_orders(session_id=session_id))
    path = _path(session_id, language, fingerprint)
    if total == 0 and not path.exists():  # nothing to lay out: a one-page file, written here
        path = session_labels_build(session_id=session_id, language=language, token=None)
    try:
        return Ready(path.open("rb"))
    except FileNotFoundError:
        pass
    token = secrets.token_hex(16)
    keys = _keys(session_id, language)
    won, status, done, seen_total = _START.run(
        keys=keys, args=[token, LOCK_TTL_S, fingerprint, total, PROGRESS_TTL_S]
    )
    if won:
        _enqueue(session_id=session_id, language=language, token=token)
        return Pending(status="queued", done=0, total=total)
    status = status.decode() if isinstance(status, bytes) else str(status)
    return Pending(status=status, done=int(done), total=int(seen_total))


def _enqueue(*, session_id: int, language: str, token: str) -> None:
    from orders.tasks import build_session_labels  # the tasks module imports this one

    try:
        build_session_labels.delay(session_id=session_id, language=language, token=token)
    except BrokerError as exc:
        _RELEASE.run(keys=_keys(session_id, language)[:1], args=[token])
        log.warning("could not queue a label build: %r", exc)
        raise Unavailable(
            "The label worker's queue is unreachable; try again in a few seconds.",
            retry_after_s=5,
        ) from None


def session_labels_build(
    *, session_id: int, language: str, token: str | None, chunk: int | None = None
) -> Path:
    """Lay out the session's orders to pack as they are now, in packing order, and write the
    file named by their fingerprint (replacing older ones). ``token``: the lock this build
    holds, whose progress it reports (None: a build nobody waits for). Idempotent: a
    redelivered task writes the same file again."""
    language = _language(language)
    keys = _keys(session_id, language)
    chunk = chunk or settings.LABELS_CHUNK
    try:
        batch = packing_sorted(with_details(session_pack_orders(session_id=session_id)))
        # Of exactly the orders laid out, whatever moved since the request looked.
        total = len(batch)
        fingerprint = _digest(
            total, sum(o.pk for o in batch), max((o.updated_at for o in batch), default=None)
        )

        def progress(done: int) -> None:
            if token is not None:
                _PROGRESS.run(keys=keys, args=[token, LOCK_TTL_S, "building", done, total])

        progress(0)
        with translation.override(language):
            pdf = labels_pdf(batch, chunk=chunk, on_progress=progress)
        path = _path(session_id, language, fingerprint)
        _write(path, pdf)
        for older in path.parent.glob(f"session-{session_id}-{language}-*.pdf"):
            if older != path:
                older.unlink(missing_ok=True)
        return path
    finally:
        if token is not None:
            _RELEASE.run(keys=keys[:1], args=[token])


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader never sees half a file (a rename within one folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".building-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
