"""Session reads."""

from collections.abc import Callable
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

from server import presence, publisher
from server.accounts.models import User
from streams.models import ChatMessage, LiveSession, SessionStatus, ShowcaseItem

SNAPSHOT_CHAT = 30

# Higher apps add to the snapshot (coupons: open drops with coupons left) at start-up.
snapshot_providers: dict[str, Callable[[LiveSession], Any]] = {}


def session_list() -> QuerySet[LiveSession]:
    """Live first, then the soonest scheduled, then the most recently ended."""
    rank = Case(
        When(status=SessionStatus.LIVE, then=Value(0)),
        When(status=SessionStatus.SCHEDULED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        LiveSession.objects.select_related("farm", "host")
        .annotate(rank=rank)
        .order_by("rank", "scheduled_at", "-ended_at", "id")
    )


def showcase_data(item: ShowcaseItem) -> dict[str, Any]:
    return {
        "product": item.product_id,
        "name": item.product.name,
        "unit": item.product.unit,
        "currency": item.product.currency,
        "price": str(item.product.price),
        "live_price": str(item.live_price),
        "allotment": item.allotment,
        "left": item.left,
        "pinned": item.pinned_at is not None,
        "deal_ends_at": item.deal_ends_at,
        "per_buyer_limit": item.per_buyer_limit,
    }


def chat_speaker(*, user: User, farm_owner_id: int) -> dict[str, Any]:
    """The ``speaker`` of a chat message (docs/protocol.md): ``host`` from who owns the
    session's farm, never from the name the speaker chose."""
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": str(user),
        "host": user.pk == farm_owner_id,
        "staff": user.is_staff,
    }


def chat_entry(message: ChatMessage, *, farm_owner_id: int) -> dict[str, Any]:
    """One chat message as the snapshot and the ``chat.message`` broadcast carry it."""
    return {
        "id": message.pk,
        "user": str(message.user),
        "user_id": message.user_id,
        "speaker": chat_speaker(user=message.user, farm_owner_id=farm_owner_id),
        "text": message.text,
    }


def session_snapshot(*, session_id: int) -> dict[str, Any] | None:
    """Everything a viewer needs to draw the live page, as of ``last_seq``. The seq is read
    first: an event published while the rest is read comes after it and is delivered live,
    so the client may see a fact twice but never misses one."""
    seq = publisher.last_seq(session_id)
    session = LiveSession.objects.select_related("farm", "host").filter(pk=session_id).first()
    if session is None:
        return None
    items = list(session.showcase.select_related("product"))
    pinned = max(
        (i for i in items if i.pinned_at is not None), key=lambda i: i.pinned_at, default=None
    )
    chat = list(
        ChatMessage.objects.filter(session=session, deleted_at__isnull=True)
        .select_related("user")
        .order_by("-id")[:SNAPSHOT_CHAT]
    )
    snapshot = {
        "session": {
            "id": session.pk,
            "title": session.title,
            "status": session.status,
            "language": session.language,
            "host": {"id": session.host_id, "name": str(session.host)},
            "farm": {
                "id": session.farm_id,
                "name": session.farm.name,
                "province": session.farm.province,
                "district": session.farm.district,
                "poverty_county": session.farm.poverty_county,
            },
            "scheduled_at": session.scheduled_at,
            "started_at": session.started_at,
        },
        "pinned": showcase_data(pinned) if pinned else None,
        "showcase": [showcase_data(i) for i in items],
        "chat": [chat_entry(m, farm_owner_id=session.farm.owner_id) for m in reversed(chat)],
        "viewers": presence.viewer_count(session_id),
        "last_seq": seq,
    }
    for name, provider in snapshot_providers.items():
        snapshot[name] = provider(session)
    return snapshot
