"""Signed webhooks from payment providers, in the Standard Webhooks form: ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers over the raw body, a five-minute
tolerance on the timestamp, and ``webhook-id`` as the event's id for deduplication.

The ``standardwebhooks`` package does the signing; this module picks each provider's secret
and makes every way a hostile request can fail (bad base64, a signature without a version,
a body that is not UTF-8 or not JSON) one ``Invalid``, never a server error.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from server.errors import Invalid


def provider_secret(provider: str, *, secrets: Mapping[str, str] | None = None) -> str:
    """The provider's ``whsec_`` secret: configured (``secrets``, by default
    ``PAYMENT_WEBHOOK_SECRETS``; carriers pass ``CARRIER_WEBHOOK_SECRETS``), or on the
    embedded default derived from ``SECRET_KEY`` so the sandbox works with nothing set."""
    table = settings.PAYMENT_WEBHOOK_SECRETS if secrets is None else secrets
    configured = table.get(provider)
    if configured:
        return configured
    if settings.PRODUCTION:
        raise Invalid(f"Webhooks from {provider} are not configured.")
    derived = hmac.new(settings.SECRET_KEY.encode(), provider.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(derived).decode()


def webhook_verify(
    *,
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event's JSON object with its ``id`` (the ``webhook-id`` header); raises
    ``Invalid`` for a bad or stale signature and for a body that is not a JSON object.
    ``secrets``: as ``provider_secret`` takes them."""
    try:
        event = Webhook(provider_secret(provider, secrets=secrets)).verify(body, dict(headers))
    except (WebhookVerificationError, ValueError, TypeError, RecursionError):
        raise Invalid("The webhook's signature does not verify.") from None
    if not isinstance(event, dict):
        raise Invalid("A webhook's body is a JSON object.")
    lowered = {k.lower(): v for k, v in headers.items()}
    return {**event, "id": lowered["webhook-id"]}


def webhook_sign(
    *,
    provider: str,
    event_id: str,
    payload: dict[str, Any],
    at: datetime | None = None,
    secrets: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a webhook as ``provider`` sends it (the sandbox gateway and tests)."""
    body = json.dumps(payload, separators=(",", ":"))
    at = at or datetime.now(UTC)
    signature = Webhook(provider_secret(provider, secrets=secrets)).sign(event_id, at, body)
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body.encode(), headers
