"""The home and login pages: seeded content, empty states, three languages."""

import pytest
from django.core.management import call_command

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_home_shows_empty_states_before_anything_exists(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert "No live sessions right now" in html
    assert "No farms yet." in html
    assert "No products yet." in html


# The seed commits step by step, as the site does: a drop's gate and the session's numbers
# are set up after commit, which a test inside one transaction would never reach.
@pytest.mark.django_db(transaction=True)
def test_home_shows_sessions_farms_and_products(client):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Mango harvest live from the orchard" in html
    assert "Phu Fa Highland Farm" in html
    assert "Poverty-alleviation county" in html
    assert "450.00 THB / box" in html


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("th", "กำลังไลฟ์และไลฟ์ที่กำลังจะมา"),
        ("zh-CN,zh;q=0.9", "正在直播与即将开播"),
        ("en-US", "Live now and coming up"),
    ],
)
def test_home_speaks_the_viewers_language(client, language, text):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE=language)
    assert text in page.content.decode()


def test_login_page_logs_in_with_the_session_cookie(client, make_user):
    make_user(username="somsri")
    assert client.get("/login/").status_code == 200
    wrong = client.post("/login/", {"username": "somsri", "password": "nope"})
    assert wrong.status_code == 200
    assert "Wrong username or password" in wrong.content.decode()
    reply = client.post("/login/", {"username": "SomSri", "password": PASSWORD})
    assert reply.status_code == 302
    assert client.get("/api/me/").json()["username"] == "somsri"


def test_unknown_page_is_html_not_json(client):
    page = client.get("/no-such-page/", HTTP_ACCEPT="text/html")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_login_pages_say_try_again_while_redis_is_unreachable(client, make_user, monkeypatch, path):
    import redis

    from server.accounts import throttle

    user = make_user()
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    monkeypatch.setattr(throttle, "redis_client", lambda: dead)
    page = client.post(path, {"username": user.username, "password": PASSWORD})
    assert page.status_code == 503
    assert page["Retry-After"] == "2"
    assert b"briefly unavailable" in page.content
    assert "_auth_user_id" not in client.session
