"""Broadcast events of the live channel (docs/protocol.md), typed; published after commit."""

from pydantic import BaseModel, ConfigDict, Field

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


class Speaker(BaseModel):
    """Who said a chat message, as the server knows them: ``host`` is true only for the
    owner of the session's farm and ``staff`` only for staff, so a display name alone can
    never pass for the host's."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    username: str
    display_name: str
    host: bool
    staff: bool


class ChatPosted(Event):
    type = "chat.message"
    id: int
    user: str  # the display name (kept: clients read it)
    user_id: int
    speaker: Speaker
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
