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
    # a new X-Forwarded-For each time: not believed without TRUSTED_PROXIES
    codes = [
        api.post(
            "/api/auth/token/",
            {"username": "target", "password": "guess"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
        for i in range(4)
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


# --- one normal form, no look-alikes (docs/api.md, "Usernames") ---------------------------


def _register(api, username, display_name="", role="viewer"):
    return api.post(
        "/api/auth/register/",
        {"username": username, "password": PASSWORD, "display_name": display_name, "role": role},
        format="json",
    )


def test_long_s_cannot_take_a_username_nor_break_its_login(api):
    assert _register(api, "somchai").status_code == 201
    # LATIN SMALL LETTER LONG S (U+017F) upper-cases to S
    reply = _register(api, "\u017fomchai")
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "conflict"
    assert User.objects.count() == 1
    for spelling in [
        "somchai",
        "SOMCHAI",
        "\u017fomchai",
        "\uff53\uff4f\uff4d\uff43\uff48\uff41\uff49",
    ]:
        login = api.post(
            "/api/auth/token/", {"username": spelling, "password": PASSWORD}, format="json"
        )
        assert login.status_code == 200, spelling


@pytest.mark.parametrize(
    "lookalike",
    [
        "\u0455omchai",  # Cyrillic dze for s
        "\u0455\u043em\u0441h\u0430\u0456",  # Cyrillic s, o, c, a, i, m Latin: mixed
        "s\u03bfmchai",  # Greek omicron
        "s0mchai",  # digit zero
        "som.chai",  # punctuation does not tell names apart
        "Somchai_",
    ],
)
def test_lookalikes_of_an_existing_username_are_refused(api, make_user, lookalike):
    make_user(username="somchai")
    reply = _register(api, lookalike)
    assert reply.status_code in (400, 409)
    assert "username" in reply.json()["error"]["fields"]
    assert User.objects.count() == 1


def test_one_script_per_name_for_latin_cyrillic_and_greek(api):
    mixed = _register(api, "p\u0430ypal")  # Cyrillic a
    assert mixed.status_code == 400
    assert mixed.json()["error"]["code"] == "invalid"
    # a whole Cyrillic name, and Thai or Chinese beside Latin, are names like any other
    assert _register(api, "\u0438\u0432\u0430\u043d").status_code == 201
    assert _register(api, "farm_\u0e2a\u0e27\u0e19").status_code == 201
    assert _register(api, "\u5f20\u4f1f88").status_code == 201


def test_thai_names_that_differ_are_both_welcome(api):
    assert _register(api, "\u0e2a\u0e21\u0e0a\u0e32\u0e22").status_code == 201  # สมชาย
    assert _register(api, "\u0e2a\u0e21\u0e28\u0e23\u0e35").status_code == 201  # สมศรี


def test_display_names_are_normalized_and_refuse_control_characters(api):
    reply = _register(api, "nok", display_name="  \uff2e\uff4f\uff4b farm ")
    assert reply.status_code == 201
    assert reply.json()["display_name"] == "Nok farm"
    for bad in ["Nok\u202efarm", "Nok\x07", "Nok\u200bfarm"]:
        refused = _register(api, "nok2", display_name=bad)
        assert refused.status_code == 400, repr(bad)
        assert "display_name" in refused.json()["error"]["fields"]
    assert User.objects.count() == 1


def test_nobody_passes_for_a_host(api):
    assert _register(api, "malee", display_name="Malee Orchard", role="host").status_code == 201
    for username, display in [
        ("fan1", "Malee Orchard"),  # the host's display name
        ("fan2", "MALEE  ORCHARD"),
        ("fan3", "Mal\u0435e Orchard"),  # Cyrillic e
        ("fan4", "malee"),  # the host's username
    ]:
        refused = _register(api, username, display_name=display)
        assert refused.status_code == 400, display
        assert "display_name" in refused.json()["error"]["fields"]
    # nor by a username that reads as the host's display name
    assert _register(api, "maleeorchard").status_code == 409
    # a viewer's display name is not protected from other viewers
    assert _register(api, "dao", display_name="Golden Mango").status_code == 201
    assert _register(api, "dao2", display_name="Golden Mango").status_code == 201
    # but nobody's display name may read as another user's username
    assert _register(api, "dao3", display_name="DAO").status_code == 400
    assert User.objects.count() == 3


def test_a_new_host_cannot_copy_a_viewers_display_name_either(api):
    assert _register(api, "dao", display_name="Dao Mango").status_code == 201
    refused = _register(api, "daofarm", display_name="Dao Mango", role="host")
    assert refused.status_code == 400
    assert "display_name" in refused.json()["error"]["fields"]


def test_page_and_admin_logins_use_the_normal_form(client, make_user):
    User.objects.create_superuser(username="Staff", password=PASSWORD)
    reply = client.post(
        "/admin/login/", {"username": "\uff33\uff34\uff21\uff26\uff26", "password": PASSWORD}
    )
    assert reply.status_code == 302
    make_user(username="somsri")
    client.logout()
    assert client.post("/login/", {"username": "SOMSRI", "password": PASSWORD}).status_code == 302


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    spoofed = client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="192.0.2.1")
    assert spoofed.status_code == 301
    assert spoofed["Location"].startswith("https://")
    proxied = client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.1.2.3")
    assert proxied.status_code == 200


def test_a_username_needs_a_letter_or_digit(api):
    reply = _register(api, "._-")
    assert reply.status_code == 400
    assert "username" in reply.json()["error"]["fields"]
    assert not User.objects.exists()
