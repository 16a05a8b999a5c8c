"""What each client message type does on /ws/live/: a registry, so higher apps (coupons:
``coupon.claim``) add theirs at start-up without streams knowing them."""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel


class LiveSocket(Protocol):
    """The consumer as a handler sees it."""

    session_id: int
    user: Any
    state: dict[str, Any]  # per-connection scratch space for handlers (e.g. rate counters)

    def require_user(self) -> Any:
        """The socket's user; raises ``NotAuthenticated`` for an anonymous socket."""


Handler = Callable[[LiveSocket, Any, Any], Awaitable[dict[str, Any] | None]]
# type -> (data schema, handler). A handler returns the reply ({type, data}) or None.
HANDLERS: dict[str, tuple[type[BaseModel], Handler]] = {}


def handles(kind: str, schema: type[BaseModel]) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[kind] = (schema, func)
        return func

    return register
