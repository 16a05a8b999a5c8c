"""Names of channel-layer groups, and the one way to message one user's sockets.

Broadcasts to a session's viewers go through ``server.publisher`` (numbered, replayable,
encoded once). The channel layer carries what is for one user only (a claim result on
another tab, the host's stream health) and control messages.
"""

from typing import Any

from channels.layers import get_channel_layer

from server.publisher import now_ts


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def host_group(session_id: int) -> str:
    """The sockets of one session's host (its live numbers go there, never to viewers)."""
    return f"host.{session_id}"


def direct_frame(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A frame with no ``seq``: for one user, not part of the session's numbered stream."""
    return {"type": event_type, "ts": now_ts(), "data": data}


async def send_to_group_async(group: str, event_type: str, data: dict[str, Any]) -> None:
    """Deliver a direct frame to every socket in ``group`` (``user_group``, ``host_group``),
    on any web node."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            group, {"type": "direct.frame", "frame": direct_frame(event_type, data)}
        )


async def send_to_user_async(user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Deliver a frame to every open socket of one user, on any web node."""
    await send_to_group_async(user_group(user_id), event_type, data)
