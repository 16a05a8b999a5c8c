"""Refuse requests no view can use, before anything parses them."""

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from server.clientaddr import is_trusted_proxy
from server.errors import error_body

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")


class ForwardedHeadersMiddleware:
    """Forget ``X-Forwarded-*`` unless the peer is one of ``TRUSTED_PROXIES``: anyone can
    write them, and Django would take ``X-Forwarded-Proto`` as proof of HTTPS
    (``SECURE_PROXY_SSL_HEADER``) from whoever sent it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_trusted_proxy(str(request.META.get("REMOTE_ADDR") or "")):
            for name in FORWARDED_HEADERS:
                request.META.pop(name, None)
        return self.get_response(request)


class RequestGuardMiddleware:
    """Two refusals every endpoint needs, in one place:

    - 413 for a body past the limit, judged by ``Content-Length`` before parsing. Django's
      ``DATA_UPLOAD_MAX_MEMORY_SIZE`` guards only ``request.body`` and form parsing; DRF's
      JSON parser reads the stream directly, so a 10 MB document would be read in full.
    - 400 for a NUL character in the path or query: PostgreSQL text cannot hold one, and
      a filter that passes it on fails inside the database instead of at the door.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(400, "Bad Content-Length header.")
        content_type = request.META.get("CONTENT_TYPE", "")
        limit = (
            settings.UPLOAD_MAX_BODY_BYTES
            if content_type.startswith("multipart/")
            else settings.API_MAX_BODY_BYTES
        )
        if length > limit:
            return _refuse(413, f"Body too large: at most {limit} bytes.", max_bytes=limit)
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return _refuse(400, "NUL characters are not allowed in URLs.")
        return self.get_response(request)


def _refuse(status: int, message: str, **extra: object) -> JsonResponse:
    return JsonResponse(error_body("invalid", message, **extra), status=status)


class DisplayTimezoneMiddleware:
    """Pages show times where the farms are; the API keeps UTC, so every client parses the
    same instant (a local zone's historical offsets are not even valid RFC 3339)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.zone = zoneinfo.ZoneInfo(settings.DISPLAY_TIME_ZONE)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            timezone.deactivate()
        else:
            timezone.activate(self.zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
