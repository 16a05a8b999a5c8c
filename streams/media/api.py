"""WHIP (RFC 9725) and WHEP endpoints: SDP in, SDP out, a resource URL to DELETE.

Plain async Django views, not DRF: the bodies are ``application/sdp``, and aiortc must run
on the event loop that serves the request (DRF views are synchronous). They are
CSRF-exempt and take a bearer token (RFC 9725; OBS sends one), or our pages' session
cookie. A cookie alone cannot be abused cross-site: a foreign page cannot send
``application/sdp`` without a CORS preflight, which only our own origins pass, and a
request whose ``Origin`` is not ours is refused outright.

Thin: validate the request, call a service, shape the answer (201 + ``Location``, 307 to
the media process that holds the session, or the contract's error object).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError
from rest_framework.authtoken.models import Token

from server.clientaddr import client_address
from server.errors import DomainError, Forbidden, Invalid, NotAuthenticated, error_body
from server.origins import origin_allowed
from streams.media import services
from streams.media.db import on_db_thread
from streams.media.errors import MediaUnavailable, UnsupportedMediaType
from streams.media.ice import link_headers
from streams.media.peers import QUALITIES

log = logging.getLogger(__name__)

SDP = "application/sdp"
MAX_SDP_BYTES = 64 * 1024
EXPOSED = "Location, Link, Content-Type"


def _origin_allowed(origin: str) -> bool:
    """Scheme, host and port compared in full (server.origins)."""
    return origin_allowed(origin, extra=settings.MEDIA_CORS_ORIGINS)


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    origin = request.headers.get("Origin")
    if origin and _origin_allowed(origin):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
        response["Access-Control-Expose-Headers"] = EXPOSED
        response["Vary"] = "Origin"
    return response


def _error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = JsonResponse(exc.as_dict(), status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="talad"'
    if "retry_after_s" in exc.extra:
        response["Retry-After"] = str(exc.extra["retry_after_s"])
    return _cors(request, response)


def _preflight(request: HttpRequest, methods: str) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Allow"] = methods
    origin = request.headers.get("Origin")
    if origin and _origin_allowed(origin):
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match"
        response["Access-Control-Max-Age"] = "600"
    _links(response)
    return _cors(request, response)


def _links(response: HttpResponse) -> None:
    """Every ICE server in one ``Link`` header, comma-separated (RFC 8288)."""
    if links := link_headers():
        response["Link"] = ", ".join(links)


@on_db_thread
def _user_by_token(key: str) -> Any:
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None and token.user.is_active else None


async def _actor(request: HttpRequest) -> Any:
    """Bearer (RFC 9725) or DRF's ``Token`` scheme first; else our pages' session cookie."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and key.strip():
        user = await _user_by_token(key.strip()[:64])
        if user is None:
            raise NotAuthenticated("Invalid token.")
        return user
    origin = request.headers.get("Origin")
    if origin and not _origin_allowed(origin):
        raise Forbidden("Requests from this page's origin are not accepted.")
    return await request.auser()


def _offer(request: HttpRequest) -> str:
    if request.content_type != SDP:
        raise UnsupportedMediaType("Send the SDP offer as application/sdp.")
    if len(request.body) > MAX_SDP_BYTES:
        raise Invalid(f"The SDP offer is too large: at most {MAX_SDP_BYTES} bytes.")
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("The SDP offer is not UTF-8 text.") from None


def _location(request: HttpRequest, kind: str, session_id: int, resource: str) -> str:
    base = settings.MEDIA_NODE_URL.rstrip("/") or request.build_absolute_uri("/").rstrip("/")
    return f"{base}/api/sessions/{session_id}/{kind}/{resource}"


def _redirect(request: HttpRequest, node_url: str) -> HttpResponse:
    """307 keeps the method and body (RFC 9725 section 4.5)."""
    response = HttpResponse(status=307)
    response["Location"] = node_url.rstrip("/") + request.get_full_path()
    return _cors(request, response)


def _created(request: HttpRequest, kind: str, session_id: int, answer: Any) -> HttpResponse:
    response = HttpResponse(answer.sdp, status=201, content_type=SDP)
    response["Location"] = _location(request, kind, session_id, answer.resource)
    _links(response)
    return _cors(request, response)


View = Callable[..., Awaitable[HttpResponse]]


def _handles(methods: str) -> Callable[[View], View]:
    """OPTIONS, 405 and contract errors for every endpoint here, in one place."""

    def wrap(view: View) -> View:
        allowed = {m.strip() for m in methods.split(",")}

        async def handle(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                return _preflight(request, methods)
            if request.method not in allowed:
                response = JsonResponse(
                    error_body("invalid", f"{request.method} is not allowed here."), status=405
                )
                response["Allow"] = methods
                return _cors(request, response)
            kwargs["session_id"] = int(kwargs["session_id"])
            try:
                return await view(request, **kwargs)
            except DomainError as exc:
                return _error(request, exc)
            except RedisError as exc:
                # Which process holds a session lives in Redis: without it, say "later".
                log.warning("media routing unavailable: %s", exc)
                return _error(request, MediaUnavailable("Video is briefly unavailable."))

        handle.__name__ = view.__name__
        handle.__doc__ = view.__doc__
        return csrf_exempt(handle)

    return wrap


@_handles("POST, OPTIONS")
async def whip(request: HttpRequest, session_id: int) -> HttpResponse:
    """The host publishes: ``?record=0`` opts this publication out of recording."""
    actor = await _actor(request)
    offer = _offer(request)
    record = request.GET.get("record")
    result = await services.publication_start(
        session_id=session_id,
        actor=actor,
        offer=offer,
        record=None if record is None else record not in ("0", "false", "no"),
    )
    if isinstance(result, services.Redirect):
        return _redirect(request, result.node_url)
    return _created(request, "whip", session_id, result)


@_handles("DELETE, PATCH, OPTIONS")
async def whip_resource(request: HttpRequest, session_id: int, resource: str) -> HttpResponse:
    """DELETE ends the publication. PATCH (trickle ICE, ICE restart) is not supported:
    our answers carry every candidate, so 405 tells the client so (RFC 9725 4.3)."""
    if request.method == "PATCH":
        response = JsonResponse(
            error_body("invalid", "Trickle ICE is not supported; send full offers."), status=405
        )
        response["Allow"] = "DELETE, OPTIONS"
        return _cors(request, response)
    actor = await _actor(request)
    result = await services.publication_stop(session_id=session_id, resource=resource, actor=actor)
    if isinstance(result, services.Redirect):
        return _redirect(request, result.node_url)
    return _cors(request, HttpResponse(status=200))


@_handles("POST, OPTIONS")
async def whep(request: HttpRequest, session_id: int) -> HttpResponse:
    """Anyone who may watch: ``?quality=auto|hd|low|audio`` (default ``auto``)."""
    quality = request.GET.get("quality", "auto")
    if quality not in QUALITIES:
        raise Invalid(
            f"Unknown quality {quality[:20]!r}.", fields={"quality": [", ".join(QUALITIES)]}
        )
    viewer = await _actor(request)
    offer = _offer(request)
    result = await services.playback_start(
        session_id=session_id,
        viewer=viewer,
        client_address=client_address(request.META),
        offer=offer,
        quality=quality,
    )
    if isinstance(result, services.Redirect):
        return _redirect(request, result.node_url)
    return _created(request, "whep", session_id, result)


@_handles("DELETE, PATCH, OPTIONS")
async def whep_resource(request: HttpRequest, session_id: int, resource: str) -> HttpResponse:
    """DELETE ends the playback; the resource URL itself is the viewer's capability."""
    if request.method == "PATCH":
        response = JsonResponse(
            error_body("invalid", "Trickle ICE is not supported; send full offers."), status=405
        )
        response["Allow"] = "DELETE, OPTIONS"
        return _cors(request, response)
    result = await services.playback_stop(session_id=session_id, resource=resource)
    if isinstance(result, services.Redirect):
        return _redirect(request, result.node_url)
    return _cors(request, HttpResponse(status=200))
