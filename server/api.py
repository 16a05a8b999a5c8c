"""REST plumbing every app's ``api.py`` shares: parsing, paging, throttling, schema."""

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.throttling import SimpleRateThrottle


class DecimalJSONParser(JSONParser):
    """JSON whose numbers with a fraction become ``Decimal``, never ``float``.

    A price sent as ``12.10`` must not arrive as ``12.0999999...``; money stays Decimal
    from the wire to the database.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
        except RecursionError:  # nested deeper than the decoder goes: a client's doing
            raise ParseError("Malformed JSON: nested too deeply.") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def validated(serializer_class: type[Serializer], request: Request, **kwargs: Any) -> dict:
    """The request body checked by ``serializer_class``; raises DRF's ValidationError,
    which the error handler turns into ``invalid`` with per-field messages."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class SettingsRateThrottle(SimpleRateThrottle):
    """A scoped throttle whose rate is looked up per request in ``TALAD_THROTTLE_RATES``.

    DRF's own throttles freeze their rates at import, which makes them untestable and
    unchangeable without a restart of every web node.
    """

    scope: str = ""

    def get_rate(self) -> str | None:
        return settings.TALAD_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Any, view: Any) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AuthRateThrottle(SettingsRateThrottle):
    """Per client address, for register and login (password guessing, account farms)."""

    scope = "auth"


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Per-field messages, on validation errors.",
                },
            },
            "additionalProperties": True,
        }
    },
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: document the contract's error shape on every
    operation, so clients and schemathesis know what a refusal looks like."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    described = {
        "400": "Invalid input (`invalid`), with `fields`.",
        "401": "Not authenticated (`not_authenticated`).",
        "403": "Not allowed (`forbidden`).",
        "404": "No such object (`not_found`).",
        "429": "Too many requests (`rate_limited`).",
        "default": "Any other refusal, in the same error shape.",
    }
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in described.items():
                responses.setdefault(status, {"description": description, **ref})
    return result
