"""Refuse oversized bodies before anything reads them."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from server.errors import error_body


class BodySizeLimitMiddleware:
    """413 for a body past the limit, judged by ``Content-Length`` before parsing.

    Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` guards only ``request.body`` and form
    parsing; DRF's JSON parser reads the stream directly, so a 10 MB JSON document would
    otherwise be read and parsed in full.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("invalid", "Bad Content-Length."), status=400)
        content_type = request.META.get("CONTENT_TYPE", "")
        limit = (
            settings.UPLOAD_MAX_BODY_BYTES
            if content_type.startswith("multipart/")
            else settings.API_MAX_BODY_BYTES
        )
        if length > limit:
            return JsonResponse(
                error_body("invalid", f"Body too large: at most {limit} bytes.", max_bytes=limit),
                status=413,
            )
        return self.get_response(request)
