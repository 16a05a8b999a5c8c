"""Who may take a playback slot on this media process (docs/video.md, "Limits").

A WHEP offer costs a peer connection the moment it is answered, whether or not the viewer
ever connects, and a media process holds ``MEDIA_MAX_PEERS`` of them. Three bounds keep one
client from taking them all:

- per client: a signed-in user, else one address, holds at most ``MEDIA_PEERS_PER_CLIENT``
  playbacks here (``rate_limited``, 429, past it);
- anonymous viewers together take at most ``MEDIA_ANONYMOUS_SHARE`` of the peers, so a
  signed-in viewer still finds room when anonymous ones fill theirs (``unavailable``, 503);
- a peer that has not connected within ``MEDIA_CONNECT_TIMEOUT_S`` is closed by the
  registry's tick, so an offer never followed up frees its slot within seconds.

Offers still being answered count as held: answering awaits (ICE gathering, DTLS set-up),
and a burst of concurrent offers would otherwise all pass the check before the first peer
is registered.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from django.conf import settings

from server.errors import RateLimited
from streams.media.errors import MediaUnavailable
from streams.media.peers import Registry

ANONYMOUS = "addr:"


def client_key(*, user_id: int | None, address: str) -> str:
    """Whom a playback is counted against: the user when signed in, else the address."""
    return f"user:{user_id}" if user_id is not None else f"{ANONYMOUS}{address}"


def _retry_after_s() -> int:
    # A slot held by a peer that never connects is free by then.
    return max(1, math.ceil(settings.MEDIA_CONNECT_TIMEOUT_S))


@contextlib.contextmanager
def playback_slot(registry: Registry, *, client: str) -> Iterator[None]:
    """Hold one of this process's slots for ``client`` while its offer is answered; raise
    ``RateLimited`` or ``MediaUnavailable`` (both with ``retry_after_s``) when it may not."""
    offering = registry.offering
    held = offering[client] + sum(1 for p in registry.peers.values() if p.client == client)
    if held >= settings.MEDIA_PEERS_PER_CLIENT:
        raise RateLimited(
            f"At most {settings.MEDIA_PEERS_PER_CLIENT} playbacks at a time; stop one first.",
            retry_after_s=_retry_after_s(),
        )
    if registry.load() + sum(offering.values()) >= settings.MEDIA_MAX_PEERS:
        raise MediaUnavailable(
            "This video server is full; try the data-saver stream later.",
            retry_after_s=_retry_after_s(),
        )
    if client.startswith(ANONYMOUS):
        anonymous = sum(n for key, n in offering.items() if key.startswith(ANONYMOUS)) + sum(
            1 for p in registry.peers.values() if p.client.startswith(ANONYMOUS)
        )
        if anonymous >= int(settings.MEDIA_MAX_PEERS * settings.MEDIA_ANONYMOUS_SHARE):
            raise MediaUnavailable(
                "Video for viewers who are not signed in is full; sign in to watch now.",
                retry_after_s=_retry_after_s(),
            )
    offering[client] += 1
    try:
        yield
    finally:
        offering[client] -= 1
        if not offering[client]:
            del offering[client]
