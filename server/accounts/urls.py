from django.urls import path

from server.accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", api.TokenView.as_view(), name="auth-token"),
    path("auth/ws-ticket/", api.WsTicketView.as_view(), name="auth-ws-ticket"),
    path("me/", api.MeView.as_view(), name="me"),
]
