"""What the buyer is told to do to pay, per method: the one place that knows each provider."""

from typing import Any

from django.conf import settings
from django.urls import reverse

from orders.models import Payment, PaymentMethod
from orders.payments.promptpay import promptpay_payload
from server.errors import Invalid


def payment_method_check(*, method: str, currency: str | None = None) -> None:
    """Raises ``Invalid`` for a method this deployment does not take, or one that cannot
    take ``currency`` (PromptPay moves baht only)."""
    available = {
        PaymentMethod.COD: True,
        PaymentMethod.PROMPTPAY: bool(settings.PROMPTPAY_ID),
        PaymentMethod.SANDBOX: settings.PAYMENT_SANDBOX,
    }
    if not available.get(method, False):
        raise Invalid(
            "This payment method is not available.", fields={"payment_method": ["Not available."]}
        )
    if method == PaymentMethod.PROMPTPAY and currency not in (None, "THB"):
        raise Invalid(
            "PromptPay takes baht only.", fields={"payment_method": ["PromptPay takes THB only."]}
        )


def promptpay_text(payment: Payment) -> str:
    return promptpay_payload(proxy=settings.PROMPTPAY_ID, amount=payment.amount)


def payment_instructions(payment: Payment | None) -> dict[str, Any] | None:
    """The ``payment`` object of an order's public shape: status and amount, and for
    PromptPay the QR payload and image, for the sandbox gateway its hosted page."""
    if payment is None:
        return None
    shown: dict[str, Any] = {
        "method": payment.provider,
        "status": payment.status,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "reference": payment.reference,
    }
    if payment.provider == PaymentMethod.PROMPTPAY:
        shown["qr_payload"] = promptpay_text(payment)
        shown["qr_url"] = reverse("promptpay-qr", args=[payment.reference])
    if payment.provider == PaymentMethod.SANDBOX or settings.PAYMENT_SANDBOX:
        # On the embedded default a PromptPay payment can be confirmed from the same page.
        shown["sandbox_url"] = reverse("sandbox-pay", args=[payment.reference])
    return shown
