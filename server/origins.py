"""Whether a browser page's ``Origin`` is ours: for WebSockets and WHIP/WHEP CORS alike.

An origin is scheme, host and port together (RFC 6454): ``http://talad.example`` or
``https://talad.example:8443`` is another site than ``https://talad.example``, and a page
there must not ride on our users' cookies. Ours are:

- this request's own origin (its scheme and ``Host``, the host one of ALLOWED_HOSTS);
- each of ALLOWED_HOSTS over HTTPS on the default port (production), or over HTTP(S) on
  any port (development, where the web and media processes listen side by side on
  loopback);
- each of CSRF_TRUSTED_ORIGINS, and any ``extra`` a caller trusts (MEDIA_CORS_ORIGINS),
  compared in full; ``https://*.example.com`` covers its subdomains, as in Django.
"""

from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` as its three parts; ``None`` for anything else (``null``,
    a path, a scheme browsers never send)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def _host_allowed(host: str, allowed: list[str]) -> bool:
    return validate_host(f"[{host}]" if ":" in host else host, allowed)


def own_origin(*, scheme: str, host_header: str) -> str | None:
    """This request's origin (``ws``/``wss`` spoken as ``http``/``https``), when its
    ``Host`` is one of ALLOWED_HOSTS."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    origin = parse_origin(f"{scheme}://{host_header}")
    if origin is None or not _host_allowed(origin.host, settings.ALLOWED_HOSTS):
        return None
    return f"{scheme}://{host_header}"


def _matches(origin: Origin, trusted: str) -> bool:
    wildcard = "://*." in trusted
    pattern = parse_origin(trusted.replace("://*.", "://", 1) if wildcard else trusted)
    if pattern is None or (origin.scheme, origin.port) != (pattern.scheme, pattern.port):
        return False
    if wildcard:
        return origin.host.endswith("." + pattern.host)
    return origin.host == pattern.host


def _allowed_host(origin: Origin) -> bool:
    hosts = [host for host in settings.ALLOWED_HOSTS if host != "*" or not settings.PRODUCTION]
    if not _host_allowed(origin.host, hosts):
        return False
    if settings.PRODUCTION:
        return origin.scheme == "https" and origin.port == DEFAULT_PORTS["https"]
    return True


def origin_allowed(value: str, *, own: str | None = None, extra: Iterable[str] = ()) -> bool:
    """Whether a page at origin ``value`` may use our credentials here (see above)."""
    origin = parse_origin(value)
    if origin is None:
        return False
    if own is not None and origin == parse_origin(own):
        return True
    if any(_matches(origin, trusted) for trusted in (*settings.CSRF_TRUSTED_ORIGINS, *extra)):
        return True
    return _allowed_host(origin)
