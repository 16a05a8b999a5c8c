"""One error shape for every client: ``{"error": {"code", "message", ...}}``.

Services raise ``DomainError`` subclasses with a contract code; the DRF handler here, the
plain-Django handlers for /api/ URLs that never reach DRF, and (later) the WebSocket
consumer render them the same way. Clients branch on ``code``, never on ``message``.
"""

import logging
from decimal import InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

log = logging.getLogger(__name__)

# Contract code -> HTTP status. Codes outside the public list (docs/api.md) are not invented here.
STATUS_BY_CODE: dict[str, int] = {
    "not_authenticated": 401,
    "forbidden": 403,
    "invalid": 400,
    "not_found": 404,
    "rate_limited": 429,
    "drop_closed": 409,
    "sold_out": 409,
    "already_claimed": 409,
    "limit_reached": 409,
    "out_of_stock": 409,
    "claim_expired": 409,
    "coupon_not_applicable": 422,
    "conflict": 409,
    # The last public code: a needed service (a media process, Redis) is down
    # or full; retry later.
    "unavailable": 503,
}


class DomainError(Exception):
    """A refusal the client can act on; subclasses fix ``code``."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.extra = extra

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 400)

    def as_dict(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.extra)


class Invalid(DomainError):
    code = "invalid"


class NotFound(DomainError):
    code = "not_found"


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class RateLimited(DomainError):
    code = "rate_limited"


class Unavailable(DomainError):
    """A service the request needs is down, full or too slow; retrying soon may work."""

    code = "unavailable"


def service_error(exc: BaseException) -> Unavailable | None:
    """``Unavailable`` for a backing service's failure (Redis unreachable or too slow, no
    database connection free in this process's pool within its timeout: a storm beyond what
    the node serves), so a client hears "try again" instead of a server error; None for
    anything else."""
    pool_full = isinstance(exc, OperationalError) and isinstance(exc.__cause__, PoolTimeout)
    if isinstance(exc, RedisError | TimeoutError) or pool_full:
        log.warning("a backing service failed: %r", exc)
        return Unavailable(
            "A service we need is briefly unreachable; try again in a few seconds.",
            retry_after_s=2,
        )
    return None


def input_error(exc: BaseException) -> Invalid | None:
    """``Invalid`` for a fault that only a client's input causes and that slipped past
    validation (a value past a column's range, a number ``Decimal`` cannot hold, nesting
    past the recursion limit), so it is a 400 and never a server error; None otherwise.

    Parsers and schemas refuse these first (``server.jsonlimits``, serializer ranges);
    this is the one backstop behind them, for the REST handler and the live channel alike.
    """
    if isinstance(exc, DataError | InvalidOperation | RecursionError):
        log.warning("input refused after validation: %r", exc)
        return Invalid("A value is out of range or malformed.")
    return None


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The contract's error object; ``extra`` adds detail such as ``fields``."""
    return {"error": {"code": code, "message": message, **extra}}


def _validation_fields(detail: Any) -> Any:
    """DRF's nested ErrorDetail structure as plain strings, keyed like the input."""
    if isinstance(detail, dict):
        return {str(k): _validation_fields(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_validation_fields(v) for v in detail]
    return str(detail)


def _first_message(fields: Any) -> str:
    """A one-line summary a client can show when it does not map fields itself."""
    if isinstance(fields, dict):
        for key, value in fields.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(fields, list) and fields:
        return _first_message(fields[0])
    return str(fields) or "Invalid input."


def _from_drf(exc: drf.APIException) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, drf.ValidationError):
        fields = _validation_fields(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields if isinstance(fields, list) else [fields]}
        return 400, error_body("invalid", _first_message(fields), fields=fields)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        code = "not_authenticated"
    elif isinstance(exc, drf.PermissionDenied):
        code = "forbidden"
    elif isinstance(exc, drf.NotFound):
        code = "not_found"
    elif isinstance(exc, drf.Throttled):
        code = "rate_limited"
    else:  # ParseError, UnsupportedMediaType, MethodNotAllowed, NotAcceptable, ...
        code = "invalid"
    message = str(exc.detail) if not isinstance(exc.detail, dict | list) else str(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        extra["retry_after_s"] = int(exc.wait) + 1
    return exc.status_code, error_body(code, message, **extra)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every API error in the contract's shape."""
    headers: dict[str, str] = {}
    exc = service_error(exc) or input_error(exc) or exc
    if isinstance(exc, DomainError):
        status, body = exc.status, exc.as_dict()
        if "retry_after_s" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after_s"])
    elif isinstance(exc, Http404):
        status, body = 404, error_body("not_found", "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        status, body = 403, error_body("forbidden", "You may not do this.")
    elif isinstance(exc, drf.APIException):
        status, body = _from_drf(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
    else:
        return None  # a bug: let Django log it and answer through handler500
    set_rollback()
    return Response(body, status=status, headers=headers)


def json_error(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 400, "invalid", "Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 403, "forbidden", "You may not do this.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return json_error(request, 404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    # Django has already logged the traceback; the client gets no detail of it.
    if _wants_json(request):
        return json_error(request, 500, "server_error", "Something went wrong on our side.")
    return defaults.server_error(request)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "html" not in request.headers.get("Accept", "")
