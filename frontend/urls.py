from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import path
from django.views.generic import TemplateView

from frontend import buyer, reports, views
from server.accounts.forms import LoginForm
from server.accounts.views import throttled_login

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        throttled_login(
            auth_views.LoginView.as_view(
                template_name="frontend/login.html",
                authentication_form=LoginForm,
                redirect_authenticated_user=True,
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The host's studio: camera, go live over WHIP, stream health (frontend/studio.js).
    path(
        "studio/<int:session_id>/",
        login_required(TemplateView.as_view(template_name="frontend/studio.html")),
        name="studio",
    ),
    # The viewer's live page and the buyer's pages (frontend/buyer.py).
    path("live/<int:session_id>/", buyer.live, name="live"),
    path("me/orders/", buyer.my_orders, name="my-orders"),
    path("me/orders/<int:order_id>/", buyer.my_order, name="my-order"),
    path("me/coupons/", buyer.my_coupons, name="my-coupons"),
    # Reports (frontend/reports.py): post-live, campaign return, household impact.
    path(
        "reports/sessions/<int:session_id>/",
        reports.session_report_page,
        name="session-report-page",
    ),
    path("promote/campaigns/<int:campaign_id>/", reports.campaign_page, name="campaign-page"),
    path("impact/", reports.impact_page, name="impact-page"),
]
