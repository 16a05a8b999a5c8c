from django.contrib.auth import views as auth_views
from django.urls import include, path

from frontend import buyer, desk, reports, views
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
    # Sign-up answers 429 with its form when one address signs up too often, as login does.
    path("register/", throttled_login(views.register), name="register"),
    path("studio/", views.studio_index, name="studio-index"),
    # The host's studio: camera, go live over WHIP, showcase, drops, numbers, chat.
    path("studio/<int:session_id>/", views.studio, name="studio"),
    path("promote/", views.promote, name="promote"),
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
    # The seller desk: farms, products, sessions, orders, webhooks (frontend/desk.py).
    path("desk/", include(desk.urlpatterns)),
]
