"""What a client may send on /ws/live/ (docs/protocol.md), validated before any service runs."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from server.jsonlimits import BIGINT_MAX

MAX_FRAME_BYTES = 4096

ClientId = Annotated[StrictStr, Field(max_length=64)] | StrictInt
# A row id: what fits the bigint column it is looked up in.
DbId = Annotated[StrictInt, Field(ge=1, le=BIGINT_MAX)]


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
    id: DbId


class ChatMute(Inbound):
    user: DbId


class ErrorData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    fields: dict[str, Any] | None = None
    retry_after_s: int | None = None
