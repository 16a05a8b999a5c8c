"""A stand-in card gateway for trying the whole payment flow on one machine.

Its hosted page (``/sandbox/pay/<reference>/``) shows what is owed and lets the person at the
keyboard pay, decline, or pay after the deadline. The page then does what a real gateway
does: it sends our webhook endpoint a signed event over HTTP, so the same verification,
deduplication and state changes run as in production. On the embedded default it confirms
PromptPay payments the same way, standing in for the bank. Off unless ``PAYMENT_SANDBOX``.
"""

import json
import secrets
import urllib.request
from datetime import datetime

from orders.payments.signing import webhook_sign

OUTCOMES = {"pay": "payment.succeeded", "decline": "payment.failed"}


def sandbox_notify(
    *, webhook_url: str, provider: str, reference: str, amount: str, currency: str, outcome: str
) -> int:
    """POST the signed event for ``outcome`` (pay | decline) to ``webhook_url``; the status."""
    event_id = "evt_" + secrets.token_hex(12)
    payload = {
        "type": OUTCOMES[outcome],
        "data": {"reference": reference, "amount": amount, "currency": currency},
    }
    body, headers = webhook_sign(provider=provider, event_id=event_id, payload=payload)
    # Our own webhook URL, built from a Host header Django checked against ALLOWED_HOSTS.
    request = urllib.request.Request(webhook_url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        json.loads(response.read() or b"{}")
        return response.status


def late_countdown_s(*, due_at: datetime | None, now: datetime) -> float:
    """Seconds until just after the payment deadline (10 s when there is none)."""
    if due_at is None:
        return 10.0
    return max(0.0, (due_at - now).total_seconds()) + 5.0
