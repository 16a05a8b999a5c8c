"""ICE for real networks and for loopback-only tests, from settings (docs/video.md).

``MEDIA_ICE_SERVERS`` (STUN/TURN, none by default) go to our own peer connections and to
clients: WHIP/WHEP answers carry them as ``Link: <...>; rel="ice-server"`` headers
(RFC 9725 section 4.6) and the studio page reads the same list.

``MEDIA_ICE_HOST_ADDRESSES`` pins the addresses our host candidates use. aioice otherwise
offers every interface but loopback; tests set ``127.0.0.1`` so every packet stays on
loopback (and a namespace with only ``lo`` up still connects), and a server with many
interfaces (container bridges, VPNs) can offer only its public one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from django.conf import settings

_original_host_addresses = aioice.ice.get_host_addresses


def _pinned_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    pinned = list(settings.MEDIA_ICE_HOST_ADDRESSES)
    if not pinned:
        return _original_host_addresses(use_ipv4, use_ipv6)
    return [a for a in pinned if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def install_host_addresses() -> None:
    """aioice has no option for this; its module-level lookup is the one seam."""
    aioice.ice.get_host_addresses = _pinned_host_addresses


def ice_servers() -> list[dict[str, Any]]:
    """The configured servers in the browser's ``RTCIceServer`` shape."""
    servers = []
    for entry in settings.MEDIA_ICE_SERVERS:
        urls = entry.get("urls", [])
        server: dict[str, Any] = {"urls": [urls] if isinstance(urls, str) else list(urls)}
        if entry.get("username"):
            server["username"] = entry["username"]
            server["credential"] = entry.get("credential", "")
        servers.append(server)
    return servers


def rtc_configuration() -> RTCConfiguration:
    """``iceServers=[]`` unless configured: aiortc would otherwise ask Google's STUN."""
    install_host_addresses()
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers()
        ]
    )


def link_headers() -> list[str]:
    """RFC 9725 section 4.6: how a WHIP/WHEP client learns our STUN/TURN servers."""
    links = []
    for server in ice_servers():
        for url in server["urls"]:
            link = f'<{url}>; rel="ice-server"'
            if "username" in server:
                link += (
                    f'; username="{quote(server["username"])}"'
                    f'; credential="{quote(server["credential"])}"; credential-type="password"'
                )
            links.append(link)
    return links
