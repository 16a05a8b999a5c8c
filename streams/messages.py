"""What a client may send on /ws/live/ (docs/protocol.md), validated before any service runs."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_FRAME_BYTES = 4096

ClientId = Annotated[StrictStr, Field(max_length=64)] | StrictInt


class Inbound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(Inbound):
    type: Annotated[StrictStr, Field(max_length=40)]
    id: ClientId | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ChatSend(Inbound):
    text: Annotated[StrictStr, Field(max_length=2000)]


class ReactionSend(Inbound):
    kind: Annotated[StrictStr, Field(max_length=20)]


class Ping(Inbound):
    pass


class ChatDelete(Inbound):
    id: StrictInt


class ChatMute(Inbound):
    user: StrictInt


class ErrorData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    fields: dict[str, Any] | None = None
    retry_after_s: int | None = None


ClientType = Literal[
    "chat.send", "reaction.send", "ping", "chat.delete", "chat.mute", "chat.unmute"
]
