"""Pages outside /api/: the sandbox gateway's hosted page."""

from django.urls import path

from orders.payments import views

urlpatterns = [
    path("sandbox/pay/<str:reference>/", views.sandbox_pay, name="sandbox-pay"),
]
