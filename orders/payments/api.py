"""Provider webhooks (``POST /api/payments/webhook/{provider}/``) and the PromptPay QR image."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.models import Payment, PaymentMethod
from orders.payments.promptpay import qr_png, qr_svg
from orders.payments.providers import promptpay_text
from orders.payments.signing import webhook_verify
from orders.services.payments import payment_event_apply
from server.errors import NotFound

# Providers whose confirmations arrive by webhook (cash on delivery has none).
WEBHOOK_PROVIDERS = {PaymentMethod.PROMPTPAY.value, PaymentMethod.SANDBOX.value}


class PaymentWebhookView(APIView):
    """A provider says a payment succeeded or failed. Signed (Standard Webhooks headers);
    each event id acted on once; answers fast with what it did."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={200: OpenApiResponse(description="`{status: applied|duplicate|ignored}`")},
        auth=[],
    )
    def post(self, request: Request, provider: str) -> Response:
        if provider not in WEBHOOK_PROVIDERS:
            raise NotFound("No such payment provider.")
        event = webhook_verify(provider=provider, body=request.body, headers=request.headers)
        outcome = payment_event_apply(provider=provider, event=event, now=timezone.now())
        return Response({"status": outcome})


class PromptPayQRView(APIView):
    """The QR a buyer scans with any Thai banking app: SVG, or PNG with ``?image=png``
    (for apps that cannot show SVG)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "image/svg+xml"): bytes, (200, "image/png"): bytes})
    def get(self, request: Request, reference: str) -> HttpResponse:
        payment = get_object_or_404(
            Payment.objects.select_related("order"),
            provider=PaymentMethod.PROMPTPAY,
            reference=reference,
            order__buyer=request.user,
        )
        text = promptpay_text(payment)
        if request.query_params.get("image") == "png":
            return HttpResponse(qr_png(text), content_type="image/png")
        return HttpResponse(qr_svg(text), content_type="image/svg+xml")
