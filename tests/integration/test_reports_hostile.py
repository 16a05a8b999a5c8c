"""The report endpoints and pages under attack: other people's objects, hostile query
strings, and a forged ``X-Forwarded-For`` against the impact rate limit. Every answer is a
clear 4xx in the contract's error shape (or, for a page, its ordinary 404), never a 500."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client

from coupons.services import campaigns
from tests.integration.order_world import user
from tests.integration.report_world import report_world

pytestmark = pytest.mark.django_db(transaction=True)
HUGE = "9" * 30


@pytest.fixture
def live():
    return report_world()


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def page_client(who) -> Client:
    client = Client()
    if who is not None:
        client.force_login(who)
    return client


def test_other_peoples_reports_are_not_found(live, client_for: Callable) -> None:
    session, farm = live["session"], live["farm"]
    other_host = user("otherhost", "host")
    # a promoter with a campaign of their own, never dropped in this session
    bystander = user("bystander", "promoter")
    campaigns.campaign_create(
        owner=bystander, name="Elsewhere", kind="percent", value=Decimal("10"), budget=5,
        per_user_limit=1, claim_ttl_s=600,
    )  # fmt: skip
    for who in (other_host, bystander, live["b1"]):
        api = client_for(who)
        assert_error(api.get(f"/api/sessions/{session.pk}/report/"), 404, "not_found")
        assert_error(api.get(f"/api/sessions/{session.pk}/report/?format=csv"), 404, "not_found")
        assert_error(api.get(f"/api/farms/{farm.pk}/payouts/"), 404, "not_found")
        assert_error(api.get(f"/api/farms/{farm.pk}/payouts/?format=csv"), 404, "not_found")
        assert_error(api.get(f"/api/campaigns/{live['campaign'].pk}/stats/"), 404, "not_found")
        pages = page_client(who)
        assert pages.get(f"/reports/sessions/{session.pk}/").status_code == 404
        assert pages.get(f"/promote/campaigns/{live['campaign'].pk}/").status_code == 404
    # signed out: the API asks for credentials (JSON even when CSV was asked for), the pages
    # send to the login page
    assert_error(client_for(None).get(f"/api/farms/{farm.pk}/payouts/?format=csv"), 401,
                 "not_authenticated")  # fmt: skip
    login = page_client(None).get(f"/reports/sessions/{session.pk}/")
    assert login.status_code == 302 and login["Location"].startswith("/login/")


def test_ids_out_of_range_are_not_found(live, client_for: Callable) -> None:
    api = client_for(live["host"])
    for path in (f"/api/sessions/{HUGE}/report/", f"/api/farms/{HUGE}/payouts/",
                 f"/api/campaigns/{HUGE}/stats/"):  # fmt: skip
        assert api.get(path).status_code == 404, path
    pages = page_client(live["host"])
    assert pages.get(f"/reports/sessions/{HUGE}/").status_code == 404
    assert pages.get(f"/promote/campaigns/{HUGE}/").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "from=9999-99-99",
        "from=9999-12-31&to=9999-12-31",  # the day after would not be a date
        "to=9999-12",
        "from=0000-01-01",
        "from=1999-12-31",
        "from=2101-01-01",
        f"from={HUGE}-01-01",
        "from=2025-01-01%00",
        "from=%00",
        "from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%95-01-01",  # full-width digits
        "from=%E0%B9%92%E0%B9%90%E0%B9%92%E0%B9%95-01",  # Thai digits
        "from=2025-1-1",
        "from=2025-01-01T00:00",
        "from=2025-02-01&to=2025-01-31",
        "from=2020-01-01&to=2025-01-01",  # more than three years
        "format=csv&from=2025-13-01",  # a refusal is JSON even when CSV was asked for
    ],
)
def test_hostile_payout_periods(live, client_for: Callable, query: str) -> None:
    response = client_for(live["host"]).get(f"/api/farms/{live['farm'].pk}/payouts/?{query}")
    assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    "query",
    [
        "to=9999-12-31",
        "from=9999-12&to=9999-12",
        "from=2025-01&to=" + HUGE,
        "from=%00",
        "province=Na%00n",
        "province=Na%E2%80%8Bn",  # a zero-width space
        "province=%E2%80%AENan",  # right-to-left override
        "province=" + "x" * 101,
        "province=" + "x" * 100_000,
        "currency=thb",
    ],
)
def test_hostile_impact_queries(client_for: Callable, query: str) -> None:
    cache.clear()
    assert_error(client_for(None).get(f"/api/impact/?{query}"), 400, "invalid")
    # the page shows the default period instead (NUL bytes the server refuses before any
    # view: 400)
    page = page_client(None).get(f"/impact/?{query}")
    assert page.status_code == (400 if "%00" in query else 200)


def test_look_alike_provinces(live, client_for: Callable) -> None:
    cache.clear()
    api = client_for(None)
    period = "from=2025-01&to=2025-03"
    # full-width letters, as a phone keyboard may type them, are the province they spell
    wide = api.get(f"/api/impact/?{period}&province=%EF%BC%AE%EF%BD%81%EF%BD%8E").json()
    assert wide["province"] == "Nan" and wide["totals"]["income"] == "380.00"
    # a Cyrillic a (U+0430) only looks like it: another name, which finds nothing
    cyrillic = api.get(f"/api/impact/?{period}&province=N%D0%B0n")
    assert cyrillic.status_code == 200
    assert cyrillic.json()["province"] == "N\u0430n"
    assert cyrillic.json()["totals"]["income"] == "0.00"
    # and the page echoes it as text, selecting no real province
    html = page_client(None).get(f"/impact/?{period}&province=%3Cb%3EN%D0%B0n").content.decode()
    assert "<b>N" not in html and " selected>" not in html.split('name="province"')[1][:200]


def test_forged_forwarded_for_does_not_dodge_the_impact_limit(
    settings, client_for: Callable
) -> None:
    cache.clear()
    settings.TALAD_THROTTLE_RATES = {**settings.TALAD_THROTTLE_RATES, "impact": "3/min"}
    api = client_for(None)
    # given no trusted proxy, X-Forwarded-For is the client's own word
    codes = [
        api.get("/api/impact/", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    assert_error(api.get("/api/impact/", HTTP_X_FORWARDED_FOR="203.0.113.9"), 429, "rate_limited")
    # the page spends the same budget
    page = page_client(None).get("/impact/", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert page.status_code == 429 and int(page["Retry-After"]) > 0

    # given our proxy at 127.0.0.1: the address it saw counts, whatever the client wrote
    # to the left of it, and another client behind it has a budget of its own
    cache.clear()
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    codes = [
        api.get("/api/impact/", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 192.0.2.7").status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    other = api.get("/api/impact/", HTTP_X_FORWARDED_FOR="10.9.9.1, 192.0.2.8")
    assert other.status_code == 200
