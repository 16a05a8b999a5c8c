"""Who is asking: the client's address, trusting forwarded headers only from our proxies.

``X-Forwarded-For`` is whatever the client wrote, unless a proxy we run wrote it. With
``TRUSTED_PROXIES`` empty (the default) the address is the socket's peer; with it set and
the peer one of them, it is the right-most address in ``X-Forwarded-For`` that is not a
trusted proxy (each proxy appends the peer it saw, so everything left of that is the
client's own claim). Rate limits, throttles and logs all ask here (docs/operations.md).
"""

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def parse_proxies(entries: list[str]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` as networks; raises ``ValueError`` for an entry that is not an
    address or CIDR (settings refuse to start on one)."""
    return _networks(tuple(entries))


def _parse(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def is_trusted_proxy(remote_addr: str) -> bool:
    address = _parse(remote_addr)
    return address is not None and any(
        address in network for network in parse_proxies(settings.TRUSTED_PROXIES)
    )


def client_address(meta: Mapping[str, Any]) -> str:
    """The client's address for a request's ``META`` (or an ASGI scope's equivalents).

    An IPv6 client is counted by its /64: one subscriber holds a whole /64 and could
    otherwise take a fresh address for every try.
    """
    proxies = parse_proxies(settings.TRUSTED_PROXIES)
    peer = _parse(str(meta.get("REMOTE_ADDR") or ""))
    client = peer
    if peer is not None and proxies and any(peer in net for net in proxies):
        hops = str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                break
            client = address
            if not any(address in net for net in proxies):
                break
    if client is None:
        return "unknown"
    if client.version == 6:
        return str(ipaddress.ip_network(f"{client}/64", strict=False))
    return str(client)
