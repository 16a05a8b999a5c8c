from django.urls import path
from rest_framework.routers import SimpleRouter

from orders import api
from orders.payments import api as payments_api

router = SimpleRouter()
router.register("orders", api.OrderViewSet, basename="order")

urlpatterns = [
    *router.urls,
    path(
        "payments/webhook/<str:provider>/",
        payments_api.PaymentWebhookView.as_view(),
        name="payment-webhook",
    ),
    path("carriers/", api.CarrierListView.as_view(), name="carriers"),
    path(
        "shipments/webhook/<str:carrier>/",
        api.CarrierWebhookView.as_view(),
        name="carrier-webhook",
    ),
    path(
        "payments/promptpay/<str:reference>/qr/",
        payments_api.PromptPayQRView.as_view(),
        name="promptpay-qr",
    ),
]
