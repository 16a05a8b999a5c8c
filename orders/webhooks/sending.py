"""One signed POST to a partner's endpoint, and the checks that keep it pointed outward.

Server-side request forgery: an endpoint's host is resolved when the endpoint is saved and
again before every attempt, and refused if any of its addresses is not a public one
(loopback, private, link-local such as a cloud's metadata service, CGNAT), unless
``WEBHOOK_ALLOW_PRIVATE`` (development, tests). The request then goes to the address that
was checked, with the name kept for ``Host`` and TLS (SNI and certificate), so a DNS answer
that changes between check and connect (rebinding) cannot move it. Redirects are never
followed (a 3xx is a failed attempt), connect and read are each bounded, proxies from the
environment are ignored, and of the response only a short excerpt of the raw body is read.
"""

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from server.errors import Invalid

EXCERPT_BYTES = 256
USER_AGENT = "TaladLive-Webhooks/1"


class Refused(Invalid):
    """The URL points somewhere we do not post to."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # with the checked address in place of the name
    host: str  # the Host header: the name (and port) as the owner wrote it
    sni: str | None  # for https: the name TLS asks for and checks the certificate against


@dataclass(frozen=True, slots=True)
class Outcome:
    response_code: int | None
    error: str
    duration_ms: int
    excerpt: str

    @property
    def ok(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


def url_check(url: str) -> str:
    """The URL if we may post to it (http or https, a host, no credentials in it, public
    addresses unless allowed); raises ``Refused`` otherwise. Where private addresses are
    allowed, the name is not looked up here (it is before each send)."""
    parts, port = _parts(url)
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        _addresses(parts.hostname, port)
    return url


def _parts(url: str) -> tuple[SplitResult, int]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("That is not a URL we can post to.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("Webhook URLs are http:// or https:// with a host.")
    if parts.username is not None or parts.password is not None:
        raise Refused("Put no credentials in the URL; verify our signature instead.")
    return parts, port


def _addresses(host: str, port: int) -> list[str]:
    """The host's addresses, all public unless private ones are allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(f"{host} does not resolve.") from None
    addresses = [info[4][0] for info in infos]
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise Refused("Webhook URLs must reach a public address.")
    return addresses


def target(url: str) -> Target:
    """Where to send: the first checked address in place of the name."""
    parts, port = _parts(url)
    address = _addresses(parts.hostname, port)[0]
    literal = f"[{address}]" if ":" in address else address
    explicit = f":{parts.port}" if parts.port else ""
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Target(
        url=parts._replace(netloc=f"{literal}{explicit}").geturl(),
        host=f"{name}{explicit}",
        sni=parts.hostname if parts.scheme == "https" else None,
    )


def webhook_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_post(*, url: str, secret: str, event_id: str, body: bytes, at: datetime) -> Outcome:
    """POST ``body`` signed as Standard Webhooks defines; never raises for what the far side
    or the network does (that is the outcome)."""
    started = time.monotonic()
    try:
        where = target(url)
        headers = {
            "host": where.host,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, at, body.decode()),
        }
        timeout = httpx.Timeout(
            connect=settings.WEBHOOK_CONNECT_TIMEOUT_S,
            read=settings.WEBHOOK_READ_TIMEOUT_S,
            write=settings.WEBHOOK_READ_TIMEOUT_S,
            pool=settings.WEBHOOK_CONNECT_TIMEOUT_S,
        )
        extensions = {"sni_hostname": where.sni} if where.sni else {}
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST", where.url, content=body, headers=headers, extensions=extensions
            ) as response,
        ):
            excerpt = b""
            for chunk in response.iter_raw():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            code = response.status_code
    except Refused as exc:
        return _outcome(None, exc.message, started)
    except httpx.TimeoutException:
        return _outcome(None, "timed out", started)
    except httpx.HTTPError as exc:
        return _outcome(None, f"{type(exc).__name__}: {exc}", started)
    error = "" if 200 <= code < 300 else f"HTTP {code}"
    if 300 <= code < 400:
        error += " (redirects are not followed)"
    return _outcome(code, error, started, excerpt)


def _outcome(code: int | None, error: str, started: float, excerpt: bytes = b"") -> Outcome:
    text = excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "")
    return Outcome(
        response_code=code,
        error=error.replace("\x00", "")[:300],
        duration_ms=int((time.monotonic() - started) * 1000),
        excerpt=text[:300],
    )
