"""Session writes: lifecycle, showcase, pinning, chat and its moderation, reactions.

Each raises a ``streams.errors`` refusal; events are published after commit.
"""

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from catalog.errors import NotFarmOwner
from catalog.models import Farm, Product
from server.accounts.models import User
from server.errors import Invalid, NotFound
from server.publisher import Coalescer, publish
from server.ratelimit import hit
from server.redis import live_key, redis_client
from streams import events, metrics
from streams.errors import (
    BadShowcase,
    ChatRateLimited,
    Muted,
    NotSessionHost,
    SessionEnded,
)
from streams.models import ChatMessage, LiveSession, SessionMute, SessionStatus, ShowcaseItem
from streams.selectors import chat_entry

CHAT_MAX_CHARS = 300
# C0 controls but tab and newline.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f]")
CHAT_RATE = (5, 10.0)  # messages per seconds, per user per session
REACTION_KINDS = frozenset({"heart", "like", "laugh", "wow", "clap", "fire"})
REACTIONS_EVERY_S = 0.5
reactions_coalescer = Coalescer("reactions", REACTIONS_EVERY_S)

# Higher apps (coupons: close open drops) register what must happen when a session ends.
session_end_hooks: list[Callable[[LiveSession, datetime], None]] = []


def _require_host(*, session: LiveSession, actor: User) -> None:
    if not (actor.is_staff or session.host_id == actor.pk):
        raise NotSessionHost("Only this session's host may do this.")


def session_create(
    *,
    host: User,
    farm: Farm,
    title: str,
    now: datetime,
    description: str = "",
    language: str = "th",
    scheduled_at: datetime | None = None,
) -> LiveSession:
    """Schedule a session on the host's own farm. Raises ``NotFarmOwner``, ``Invalid``."""
    if farm.owner_id != host.pk:
        raise NotFarmOwner("Sessions are hosted by the farm's own host.")
    if scheduled_at is not None and scheduled_at < now:
        raise Invalid(
            "A session cannot be scheduled in the past.",
            fields={"scheduled_at": ["Must be in the future."]},
        )
    return LiveSession.objects.create(
        host=host,
        farm=farm,
        title=title,
        description=description,
        language=language,
        scheduled_at=scheduled_at,
    )


def session_start(*, session: LiveSession, actor: User, now: datetime) -> LiveSession:
    """Go live. Starting a live session again is a no-op. Raises ``NotSessionHost``,
    ``SessionEnded``."""
    _require_host(session=session, actor=actor)
    with transaction.atomic():
        updated = LiveSession.objects.filter(pk=session.pk, status=SessionStatus.SCHEDULED).update(
            status=SessionStatus.LIVE, started_at=now
        )
        session.refresh_from_db()
        if not updated and session.status == SessionStatus.ENDED:
            raise SessionEnded("This session has ended; schedule a new one.")
        if updated:
            publish(session.pk, events.SessionState(status=SessionStatus.LIVE))
    return session


def session_end(*, session: LiveSession, actor: User, now: datetime) -> LiveSession:
    """End a scheduled or live session (ending twice is a no-op); runs the end hooks in the
    same transaction. Raises ``NotSessionHost``."""
    _require_host(session=session, actor=actor)
    with transaction.atomic():
        updated = (
            LiveSession.objects.filter(pk=session.pk)
            .exclude(status=SessionStatus.ENDED)
            .update(status=SessionStatus.ENDED, ended_at=now)
        )
        session.refresh_from_db()
        if updated:
            _allotments_return(session=session)
            for hook in session_end_hooks:
                hook(session, now)
            publish(session.pk, events.SessionState(status=SessionStatus.ENDED))
    return session


def _allotments_return(*, session: LiveSession) -> None:
    """What is left of each allotment goes back to its product's stock, once (the caller
    runs this only when its update ended the session).

    Each item is locked, then emptied: an order's conditional update on ``left`` waits,
    then finds 0; a cancellation that locked it first has returned its units to ``left``
    and they move on with the rest. One item, then its product, in product order: the
    order orders take their rows in, so the two never deadlock."""
    items = ShowcaseItem.objects.filter(session=session).order_by("product_id")
    for item_id in items.values_list("pk", flat=True):
        item = ShowcaseItem.objects.select_for_update().get(pk=item_id)
        if item.left:
            Product.objects.filter(pk=item.product_id).update(stock=F("stock") + item.left)
            ShowcaseItem.objects.filter(pk=item.pk).update(left=0)


def showcase_add(
    *,
    session: LiveSession,
    actor: User,
    product: Product,
    live_price: Decimal,
    allotment: int,
    now: datetime,
    deal_ends_at: datetime | None = None,
    per_buyer_limit: int | None = None,
) -> ShowcaseItem:
    """Offer one of the farm's products in this session, setting its allotment aside from
    the product's stock (a conditional update: two sessions cannot set aside the same
    units). Raises ``NotSessionHost``, ``SessionEnded``, ``BadShowcase`` (another farm's
    product, more than in stock, twice, a deal ending in the past)."""
    _require_host(session=session, actor=actor)
    if session.status == SessionStatus.ENDED:
        raise SessionEnded("This session has ended.")
    if product.farm_id != session.farm_id:
        raise BadShowcase(
            "Only this farm's products can be shown.", fields={"product": ["Not this farm's."]}
        )
    if deal_ends_at is not None and deal_ends_at <= now:
        raise BadShowcase(
            "A flash deal ends in the future.", fields={"deal_ends_at": ["Must be in the future."]}
        )
    position = session.showcase.count()
    try:
        with transaction.atomic():
            set_aside = Product.objects.filter(pk=product.pk, stock__gte=allotment).update(
                stock=F("stock") - allotment
            )
            if not set_aside:
                stock = Product.objects.filter(pk=product.pk).values_list("stock", flat=True)
                have = stock.first() or 0
                raise BadShowcase(
                    f"Only {have} {product.unit} in stock.",
                    fields={"allotment": [f"At most {have}."]},
                )
            return ShowcaseItem.objects.create(
                session=session,
                product=product,
                live_price=live_price,
                allotment=allotment,
                left=allotment,
                position=position,
                deal_ends_at=deal_ends_at,
                per_buyer_limit=per_buyer_limit,
            )
    except IntegrityError:
        raise BadShowcase(
            "This product is already in the showcase.", fields={"product": ["Already shown."]}
        ) from None


def showcase_pin(
    *, session: LiveSession, actor: User, product_id: int, now: datetime
) -> ShowcaseItem:
    """Pin a showcased product for every viewer. Raises ``NotSessionHost``, ``NotFound``,
    ``SessionEnded``."""
    _require_host(session=session, actor=actor)
    if session.status == SessionStatus.ENDED:
        raise SessionEnded("This session has ended.")
    item = (
        ShowcaseItem.objects.select_related("product")
        .filter(session=session, product_id=product_id)
        .first()
    )
    if item is None:
        raise NotFound("That product is not in this session's showcase.")
    with transaction.atomic():
        ShowcaseItem.objects.filter(session=session).exclude(pk=item.pk).update(pinned_at=None)
        item.pinned_at = now
        item.save(update_fields=["pinned_at"])
        publish(session.pk, pinned_event(item))
    return item


def pinned_event(item: ShowcaseItem) -> events.ProductPinned:
    return events.ProductPinned(
        product=item.product_id,
        name=item.product.name,
        live_price=item.live_price,
        currency=item.product.currency,
        unit=item.product.unit,
        left=item.left,
    )


def chat_post(*, session: LiveSession, user: User, text: str, now: datetime) -> ChatMessage:
    """Post to the session's chat. Raises ``Invalid`` (empty, too long, control
    characters), ``SessionEnded``, ``Muted``, ``ChatRateLimited``."""
    if CONTROL_CHARS.search(text):
        # NUL cannot be stored in PostgreSQL text, and the other C0 controls only forge
        # layout in other viewers' chat: refused, not silently stripped (docs/protocol.md).
        raise Invalid(
            "Text may not contain control characters (other than newline and tab).",
            fields={"text": ["Control characters."]},
        )
    text = text.strip()
    if not text:
        raise Invalid("Say something.", fields={"text": ["Empty."]})
    if len(text) > CHAT_MAX_CHARS:
        raise Invalid(
            f"At most {CHAT_MAX_CHARS} characters.",
            fields={"text": [f"At most {CHAT_MAX_CHARS} characters."]},
        )
    if session.status == SessionStatus.ENDED:
        raise SessionEnded("This session has ended.")
    if SessionMute.objects.filter(session=session, user=user).exists():
        raise Muted("The host has muted you in this session.")
    limit, window = CHAT_RATE
    if not hit(f"chat:{session.pk}:{user.pk}", limit=limit, window_s=window):
        raise ChatRateLimited("Slow down: a few messages every few seconds.")
    with transaction.atomic():
        message = ChatMessage.objects.create(session=session, user=user, text=text, created_at=now)
        transaction.on_commit(
            lambda: metrics.chat_record(session_id=session.pk, user_id=user.pk, at=now),
            robust=True,
        )
        publish(
            session.pk,
            events.ChatPosted(**chat_entry(message, farm_owner_id=session.farm.owner_id)),
        )
    return message


def chat_delete(*, session: LiveSession, actor: User, message_id: int, now: datetime) -> None:
    """Hide a message for everyone. Raises ``NotSessionHost``, ``NotFound``."""
    _require_host(session=session, actor=actor)
    with transaction.atomic():
        updated = ChatMessage.objects.filter(
            pk=message_id, session=session, deleted_at__isnull=True
        ).update(deleted_at=now, deleted_by=actor)
        if not updated:
            if not ChatMessage.objects.filter(pk=message_id, session=session).exists():
                raise NotFound("No such message in this session.")
            return
        publish(session.pk, events.ChatDeleted(id=message_id))


def chat_mute(*, session: LiveSession, actor: User, user_id: int) -> None:
    """Mute a user for this session (muting twice is a no-op). Raises ``NotSessionHost``,
    ``NotFound``, ``Invalid`` (the host cannot mute themself)."""
    _require_host(session=session, actor=actor)
    if user_id == session.host_id:
        raise Invalid("The host cannot be muted.")
    if not User.objects.filter(pk=user_id).exists():
        raise NotFound("No such user.")
    SessionMute.objects.get_or_create(
        session=session, user_id=user_id, defaults={"muted_by": actor}
    )


def chat_unmute(*, session: LiveSession, actor: User, user_id: int) -> None:
    _require_host(session=session, actor=actor)
    SessionMute.objects.filter(session=session, user_id=user_id).delete()


def reactions_key(session_id: int) -> str:
    return live_key(session_id, "reactions")


def reaction_add(*, session_id: int, kind: str) -> None:
    """Count a reaction into the session's next ``reactions`` event (coalesced: at most
    one event per ``REACTIONS_EVERY_S`` whatever the input rate). Raises ``Invalid``."""
    if kind not in REACTION_KINDS:
        raise Invalid(f"Unknown reaction {kind!r}.", fields={"kind": sorted(REACTION_KINDS)})
    redis_client().hincrby(reactions_key(session_id), kind, 1)
    reactions_flush(session_id=session_id)


def reactions_flush(*, session_id: int) -> None:
    """Publish the counts gathered since the last flush, if this process holds the turn."""
    if not reactions_coalescer.try_acquire(session_id):
        return
    client = redis_client()
    pipe = client.pipeline()
    pipe.hgetall(reactions_key(session_id))
    pipe.delete(reactions_key(session_id))
    counts, _ = pipe.execute()
    if counts:
        publish(
            session_id,
            events.Reactions(counts={k.decode(): int(v) for k, v in counts.items()}),
        )
