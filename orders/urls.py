from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from orders import api
from orders.documents import api as documents_api
from orders.payments import api as payments_api
from orders.reports import api as reports_api
from orders.webhooks import api as webhooks_api

router = SimpleRouter()
router.register("orders", api.OrderViewSet, basename="order")
router.register(
    "webhook-endpoints", webhooks_api.WebhookEndpointViewSet, basename="webhook-endpoint"
)

urlpatterns = [
    path("orders/export.csv", documents_api.OrderExportView.as_view(), name="order-export"),
    re_path(
        r"^orders/(?P<pk>[0-9]{1,18})/label\.pdf$",
        documents_api.OrderLabelView.as_view(),
        name="order-label",
    ),
    # A session's path, answered here: streams knows nothing of orders.
    re_path(
        r"^sessions/(?P<pk>[0-9]{1,18})/labels\.pdf$",
        documents_api.SessionLabelsView.as_view(),
        name="session-labels",
    ),
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
