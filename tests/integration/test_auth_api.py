"""Accounts over HTTP, per the public API (docs/api.md)."""

import pytest

from server.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_register_returns_token_and_roles_then_login_and_me(api):
    # when
    reply = api.post(
        "/api/auth/register/",
        {"username": "somsri", "password": PASSWORD, "display_name": "สมศรี", "role": "host"},
        format="json",
    )
    # then
    assert reply.status_code == 201
    body = reply.json()
    assert body["username"] == "somsri"
    assert body["roles"] == ["viewer", "host"]
    assert body["display_name"] == "สมศรี"
    assert len(body["token"]) == 40

    login = api.post(
        "/api/auth/token/", {"username": "SOMSRI", "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200
    assert login.json() == {"token": body["token"]}

    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = api.get("/api/me/")
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]
    assert me.json()["roles"] == ["viewer", "host"]


def test_default_role_is_viewer(api):
    reply = api.post(
        "/api/auth/register/", {"username": "nok", "password": PASSWORD}, format="json"
    )
    assert reply.status_code == 201
    assert reply.json()["roles"] == ["viewer"]


def test_username_is_unique_whatever_the_letter_case(api, make_user):
    make_user(username="Somchai")
    reply = api.post(
        "/api/auth/register/", {"username": "sOmChAi", "password": PASSWORD}, format="json"
    )
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "conflict"
    assert "username" in reply.json()["error"]["fields"]
    assert User.objects.filter(username__iexact="somchai").count() == 1


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "somchai-x"])
def test_weak_passwords_are_refused(api, password):
    reply = api.post(
        "/api/auth/register/", {"username": "somchai-x", "password": password}, format="json"
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid"
    assert "password" in reply.json()["error"]["fields"]
    assert not User.objects.exists()


def test_unknown_role_is_refused(api):
    reply = api.post(
        "/api/auth/register/",
        {"username": "x1", "password": PASSWORD, "role": "staff"},
        format="json",
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["fields"]["role"]
    assert not User.objects.exists()


def test_wrong_password_is_not_authenticated(api, make_user):
    make_user(username="malee")
    reply = api.post("/api/auth/token/", {"username": "malee", "password": "nope"}, format="json")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "not_authenticated"


def test_me_needs_a_user(api):
    reply = api.get("/api/me/")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "not_authenticated"


def test_bad_token_is_not_authenticated(api):
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    reply = api.get("/api/me/")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "not_authenticated"


def test_login_attempts_are_rate_limited(api, make_user, settings):
    settings.TALAD_THROTTLE_RATES = {"auth": "3/min"}
    make_user(username="target")
    codes = [
        api.post("/api/auth/token/", {"username": "target", "password": "guess"}, format="json")
        for _ in range(4)
    ]
    assert [r.status_code for r in codes] == [401, 401, 401, 429]
    assert codes[-1].json()["error"]["code"] == "rate_limited"
    assert int(codes[-1]["Retry-After"]) > 0


def test_ws_ticket_needs_a_user_and_is_short_lived(api, client_for, viewer):
    assert api.post("/api/auth/ws-ticket/").status_code == 401
    reply = client_for(viewer).post("/api/auth/ws-ticket/")
    assert reply.status_code == 201
    assert reply.json()["expires_in"] == 30
    assert len(reply.json()["ticket"]) >= 24
