from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import views
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
]
