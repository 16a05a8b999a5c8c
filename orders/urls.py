from django.urls import path

from orders.payments import api as payments_api

urlpatterns = [
    path(
        "payments/webhook/<str:provider>/",
        payments_api.PaymentWebhookView.as_view(),
        name="payment-webhook",
    ),
    path(
        "payments/promptpay/<str:reference>/qr/",
        payments_api.PromptPayQRView.as_view(),
        name="promptpay-qr",
    ),
]
