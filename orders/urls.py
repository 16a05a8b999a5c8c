from django.urls import path
from rest_framework.routers import SimpleRouter

from orders import api
from orders.payments import api as payments_api
from orders.reports import api as reports_api
from orders.webhooks import api as webhooks_api

router = SimpleRouter()
router.register("orders", api.OrderViewSet, basename="order")
router.register(
    "webhook-endpoints", webhooks_api.WebhookEndpointViewSet, basename="webhook-endpoint"
)

urlpatterns = [
    *router.urls,
    path(
        "sessions/<int:session_id>/report/",
        reports_api.SessionReportView.as_view(),
        name="session-report",
    ),
    path(
        "farms/<int:farm_id>/payouts/",
        reports_api.FarmPayoutsView.as_view(),
        name="farm-payouts",
    ),
    path("impact/", reports_api.ImpactView.as_view(), name="impact"),
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
