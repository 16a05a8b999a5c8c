"""Broadcast events of the live channel (docs/protocol.md), typed; published after commit."""

from pydantic import Field

from server.money import Money
from server.publisher import Event, publish

__all__ = ["publish"]


class SessionState(Event):
    type = "session.state"
    status: str
    video: bool | None = None


class Viewers(Event):
    type = "viewers"
    count: int = Field(ge=0)


class ChatPosted(Event):
    type = "chat.message"
    id: int
    user: str
    user_id: int
    text: str


class ChatDeleted(Event):
    type = "chat.deleted"
    id: int


class Reactions(Event):
    type = "reactions"
    counts: dict[str, int]


class ProductPinned(Event):
    type = "product.pinned"
    product: int
    name: str
    live_price: Money
    currency: str
    unit: str
    left: int


class Stock(Event):
    type = "stock"
    product: int
    left: int
