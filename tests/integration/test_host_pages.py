"""The host's studio, the promoter's console and sign-up: who may open them, what they hold,
and the REST reads they stand on (campaigns a host may drop, a campaign's drops)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import Campaign
from coupons.services import campaigns as campaign_services
from coupons.services import drops as drop_services
from server.accounts.models import User
from streams import services as streams
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TERMS = {"kind": "percent", "value": Decimal("10"), "budget": 100}


@pytest.fixture
def session(host, farm):
    return streams.session_create(host=host, farm=farm, title="Mango live", now=timezone.now())


@pytest.fixture
def live(session, host, product):
    now = timezone.now()
    streams.showcase_add(
        session=session, actor=host, product=product, live_price=Decimal("79.00"),
        allotment=10, now=now,
    )  # fmt: skip
    streams.session_start(session=session, actor=host, now=now)
    return session


def page(client, user, path, **headers):
    if user is not None:
        client.force_login(user)
    return client.get(path, HTTP_ACCEPT="text/html", HTTP_ACCEPT_LANGUAGE="en", **headers)


# ---- the studio -------------------------------------------------------------------------


def test_studio_opens_for_its_host_with_the_numbers_and_controls(client, host, session, product):
    reply = page(client, host, f"/studio/{session.pk}/")
    assert reply.status_code == 200
    html = reply.content.decode()
    for marker in (
        'data-studio', 'data-action="live"', 'data-action="start"', 'data-action="end"',
        'id="num-viewers"', 'id="num-orders"', 'id="num-gmv"', 'id="num-claims"', 'id="num-top"',
        'data-form="showcase"', 'data-form="drop"', "data-chat", "studio_live.js",
    ):  # fmt: skip
        assert marker in html, marker
    assert f'<option value="{product.pk}" data-price="89.50" data-stock="40">' in html
    assert "<script>" not in html  # CSP: no inline script


def test_studio_refuses_everyone_but_the_host(client, make_user, session):
    other_host = make_user("host")
    reply = page(client, other_host, f"/studio/{session.pk}/")
    assert reply.status_code == 403
    assert "Only this session&#x27;s host can open its studio." in reply.content.decode()
    assert "data-studio" not in reply.content.decode()


def test_studio_for_staff_and_for_a_missing_session(client, make_user, session):
    staff = make_user("viewer")
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    assert page(client, staff, f"/studio/{session.pk}/").status_code == 200
    assert page(client, staff, "/studio/999999/").status_code == 404


def test_studio_sends_anonymous_visitors_to_log_in_and_back(client, session):
    reply = page(client, None, f"/studio/{session.pk}/")
    assert reply.status_code == 302
    assert reply["Location"] == f"/login/?next=/studio/{session.pk}/"


def test_studio_index_lists_the_hosts_open_sessions(client, host, session, make_user):
    now = timezone.now()
    ended = streams.session_create(host=host, farm=session.farm, title="Old one", now=now)
    streams.session_end(session=ended, actor=host, now=timezone.now())
    html = page(client, host, "/studio/").content.decode()
    assert f'href="/studio/{session.pk}/"' in html
    assert f'href="/studio/{ended.pk}/"' not in html
    client.logout()
    assert page(client, make_user("viewer"), "/studio/").status_code == 403


# ---- the promoter console ---------------------------------------------------------------


def test_promote_opens_for_promoters_and_hosts_only(client, make_user, farm):
    promoter = make_user("promoter")
    html = page(client, promoter, "/promote/").content.decode()
    assert "data-promote" in html and "promote.js" in html
    assert '<option value="promoter">' in html
    assert f'<option value="{farm.pk}">' in html  # any farm can be named by a promoter
    client.logout()
    assert page(client, make_user("viewer"), "/promote/").status_code == 403


def test_promote_offers_a_host_only_its_own_farms(client, host, farm, make_user):
    from catalog import services as catalog

    stranger = make_user("host")
    theirs = catalog.farm_create(owner=stranger, name="Not yours", province="Nan", district="Pua")
    html = page(client, host, "/promote/").content.decode()
    assert f'<option value="{farm.pk}">' in html
    assert f'<option value="{theirs.pk}">' not in html
    assert '<option value="promoter">' not in html


# ---- navigation by role -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        ("viewer", ["/me/orders/", "/me/coupons/"], ["/desk/", "/studio/", "/promote/"]),
        ("host", ["/desk/", "/studio/", "/me/orders/"], ["/promote/"]),
        ("promoter", ["/promote/", "/me/coupons/"], ["/desk/", "/studio/"]),
    ],
)
def test_nav_shows_the_pages_of_each_role(client, make_user, role, present, absent):
    html = page(client, make_user(role), "/").content.decode()
    nav = html[html.index('<nav class="nav"') : html.index("</nav>")]
    for href in present:
        assert f'href="{href}"' in nav
    for href in absent:
        assert f'href="{href}"' not in nav


def test_nav_marks_the_current_page_and_anonymous_sees_sign_up(client, make_user):
    promoter = make_user("promoter")
    html = page(client, promoter, "/promote/").content.decode()
    assert '<a href="/promote/" aria-current="page">' in html
    client.logout()
    html = page(client, None, "/?x=1").content.decode()
    assert 'href="/register/?next=%2F%3Fx%3D1"' in html


# ---- sign up ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "landing", "flags"),
    [
        ("viewer", "/", (False, False)),
        ("host", "/studio/", (True, False)),
        ("promoter", "/promote/", (False, True)),
    ],
)
def test_register_with_a_role_signs_in_and_lands_on_the_roles_page(client, role, landing, flags):
    assert page(client, None, "/register/").status_code == 200
    reply = client.post(
        "/register/", {"username": f"new{role}", "password": PASSWORD, "role": role}
    )
    assert reply.status_code == 302
    assert reply["Location"] == landing
    user = User.objects.get(username=f"new{role}")
    assert (user.is_host, user.is_promoter) == flags
    assert client.get("/api/me/").json()["username"] == f"new{role}"


def test_register_goes_back_to_a_local_next_only(client):
    reply = client.post(
        "/register/?next=/live/3/",
        {"username": "back", "password": PASSWORD, "role": "viewer", "next": "/live/3/"},
    )
    assert reply["Location"] == "/live/3/"
    client.logout()
    for hostile in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        reply = client.post(
            "/register/",
            {"username": f"u{len(hostile)}", "password": PASSWORD, "role": "host", "next": hostile},
        )
        assert reply["Location"] == "/studio/", hostile
        client.logout()


def test_register_shows_errors_beside_each_field_and_creates_nobody(client, make_user):
    make_user("viewer", username="taken")
    reply = client.post(
        "/register/", {"username": "Taken", "password": "123", "role": "viewer"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert reply.status_code == 200
    html = reply.content.decode()
    assert 'id="err_username"' in html and "That username is taken." in html
    assert User.objects.filter(username_key="taken").count() == 1
    reply = client.post(
        "/register/", {"username": "fresh", "password": "123", "role": "viewer"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    html = reply.content.decode()
    assert 'id="err_password"' in html and 'aria-invalid="true"' in html
    assert not User.objects.filter(username="fresh").exists()
    reply = client.post("/register/", {"username": "fresh2", "password": PASSWORD, "role": "boss"})
    assert reply.status_code == 200 and not User.objects.filter(username="fresh2").exists()


def test_register_is_throttled_per_address_like_login(client, settings):
    settings.TALAD_AUTH_LIMITS = {**settings.TALAD_AUTH_LIMITS, "register_per_address": (1, 3600)}
    first = client.post("/register/", {"username": "one", "password": PASSWORD, "role": "viewer"})
    assert first.status_code == 302
    client.logout()
    second = client.post("/register/", {"username": "two", "password": PASSWORD, "role": "viewer"})
    assert second.status_code == 429
    assert second["Retry-After"] == "3600"
    assert "Too many sign-ups" in second.content.decode()
    assert not User.objects.filter(username="two").exists()


def test_signed_in_visitors_skip_the_register_page(client, viewer):
    client.force_login(viewer)
    assert client.get("/register/?next=/me/orders/")["Location"] == "/me/orders/"


def test_register_page_speaks_the_browsers_language(client):
    html = client.get("/register/", HTTP_ACCEPT_LANGUAGE="th").content.decode()
    assert '<html lang="th">' in html


# ---- REST: campaigns a host may drop, a campaign's drops ---------------------------------


def campaign(owner, **fields):
    return campaign_services.campaign_create(owner=owner, name=f"c{owner.pk}", **TERMS, **fields)


def test_session_campaigns_lists_what_the_host_may_drop(client_for, host, live, make_user):
    promoter = make_user("promoter")
    for_farm = campaign(promoter, farms=[live.farm])
    for_session = campaign(promoter, sessions=[live])
    elsewhere = campaign(promoter)  # unscoped: only its owner may spend it
    paused = campaign(promoter, farms=[live.farm])
    campaign_services.campaign_update(
        campaign=paused, actor=promoter, now=timezone.now(), status="paused"
    )
    later = campaign(promoter, farms=[live.farm], starts_at=timezone.now() + timedelta(days=1))
    own = campaign(host, funded_by="farm", farms=[live.farm])

    url = f"/api/sessions/{live.pk}/campaigns/"
    results = client_for(host).get(url).json()["results"]
    assert [c["id"] for c in results] == [own.pk, for_session.pk, for_farm.pk]
    assert results[0]["left"] == 100
    assert (results[0]["value"], results[0]["kind"]) == ("10.00", "percent")
    # the promoter sees its own running campaigns, whatever their scope
    ids = {c["id"] for c in client_for(promoter).get(url).json()["results"]}
    assert ids == {for_farm.pk, for_session.pk, elsewhere.pk}
    assert paused.pk not in ids and later.pk not in ids
    # a stranger sees none; no session is a 404; anonymous is 401
    stranger = client_for(make_user("viewer")).get(f"/api/sessions/{live.pk}/campaigns/")
    assert stranger.json()["results"] == []
    assert client_for(host).get("/api/sessions/999999/campaigns/").status_code == 404
    assert client_for(None).get(f"/api/sessions/{live.pk}/campaigns/").status_code == 401


def test_campaign_drops_history_is_its_owners_only(client_for, host, live, make_user):
    promoter = make_user("promoter")
    funded = campaign(promoter, farms=[live.farm])
    now = timezone.now()
    first = drop_services.drop_open(
        session=live, campaign=funded, actor=host, quantity=5, duration_s=60, now=now
    )
    drop_services.drop_cancel(drop=first, actor=promoter, now=now)
    second = drop_services.drop_open(
        session=live, campaign=funded, actor=promoter, quantity=7, duration_s=30, now=now
    )

    reply = client_for(promoter).get(f"/api/campaigns/{funded.pk}/drops/")
    assert reply.status_code == 200
    body = reply.json()
    assert body["count"] == 2
    assert [d["id"] for d in body["results"]] == [second.pk, first.pk]
    assert body["results"][0]["session_title"] == "Mango live"
    assert body["results"][0]["state"] == "open" and body["results"][0]["quantity"] == 7
    assert body["results"][1]["close_reason"] == "cancelled"
    # the host who dropped it and another promoter do not see the campaign at all
    assert client_for(host).get(f"/api/campaigns/{funded.pk}/drops/").status_code == 404
    other = client_for(make_user("promoter")).get(f"/api/campaigns/{funded.pk}/drops/")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    assert Campaign.objects.get(pk=funded.pk).issued == 7
