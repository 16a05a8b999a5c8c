"""The viewer's and buyer's pages through Django's test client: what the server renders
before any script runs, who may see what, and the signed-out path back to the same page."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog import services as catalog
from orders.models import Order
from streams import services as streams
from tests.integration.order_world import coupon, place_live, user, world

pytestmark = pytest.mark.django_db


def signed_in(who) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(who)
    return client


def html(response) -> str:
    return response.content.decode()


# --- home --------------------------------------------------------------------------------


def test_home_links_live_sessions_to_their_page_and_lists_upcoming_and_ended():
    # given: one live, one scheduled and one ended session
    w = world()
    now = timezone.now()
    soon = streams.session_create(
        host=w["host"], farm=w["farm"], title="Honey harvest tomorrow", now=now,
        scheduled_at=now + timedelta(days=1),
    )  # fmt: skip
    done = streams.session_create(host=w["host"], farm=w["farm"], title="Rice last week", now=now)
    streams.session_start(session=done, actor=w["host"], now=now)
    streams.session_end(session=done, actor=w["host"], now=now)
    # when
    page = html(Client().get("/", HTTP_ACCEPT_LANGUAGE="en"))
    # then: each section holds its own sessions, each linked to its live page
    headings = ("Live now", "Coming up", "Recently ended")
    live_at, coming_at, ended_at = (page.index(h) for h in headings)
    assert live_at < page.index(f'href="/live/{w["session"].pk}/"') < coming_at
    assert coming_at < page.index(f'href="/live/{soon.pk}/"') < ended_at
    assert ended_at < page.index(f'href="/live/{done.pk}/"')


def test_home_empty_states_name_what_is_missing():
    page = html(Client().get("/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "No live sessions right now" in page
    assert "No past lives yet" in page


# --- the live page -------------------------------------------------------------------------


def test_live_page_renders_the_session_farm_origin_and_pinned_product_signed_out():
    # given: a live session on a poverty-county cooperative farm, a product pinned
    w = world(pinned=True)
    farm = w["farm"]
    type(farm).objects.filter(pk=farm.pk).update(
        poverty_county=True, cooperative="Pua Mango Co-op", shipping_fee=Decimal("40.00")
    )
    # when: someone who is not signed in opens it
    response = Client().get(f"/live/{w['session'].pk}/", HTTP_ACCEPT_LANGUAGE="en")
    # then: everything to watch is there, and acting asks to sign in and come back here
    assert response.status_code == 200
    page = html(response)
    assert "Live" in page and w["session"].title in page
    assert "Ban Rai" in page and "Pua, Nan" in page
    assert "Poverty-alleviation county" in page
    assert "Pua Mango Co-op" in page
    assert 'data-pinned-price>80.00<' in page and 'data-pinned-left>10<' in page
    assert 'data-shipping="40.00"' in page
    back = f"/login/?next=/live/{w['session'].pk}/"
    assert f'data-login="{back}"' in page
    assert f'href="{back}"' in page  # the chat's sign-in link
    assert "Sign in to buy" in page and "Sign in to claim" in page
    assert "data-chat-form" not in page
    # no inline script: only script files and the JSON data block
    assert 'type="module" src="/static/frontend/live.js"' in page
    tags = re.findall(r"<script[^>]*>", page)
    assert tags and all(" src=" in t or 'type="application/json"' in t for t in tags), tags
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers


def test_live_page_signed_in_has_chat_buy_and_only_the_payment_methods_on_offer(settings):
    w = world()
    viewer = user("nok")
    settings.PAYMENT_SANDBOX = False
    page = html(signed_in(viewer).get(f"/live/{w['session'].pk}/"))
    assert "data-chat-form" in page
    assert 'value="cod"' in page and 'value="promptpay"' in page
    assert 'value="sandbox"' not in page
    assert 'id="order-status-labels"' in page


def test_live_page_of_a_missing_session_is_404():
    assert Client().get("/live/999999/").status_code == 404


def test_live_page_of_an_ended_session_still_offers_its_products_at_catalogue_price():
    w = world()
    streams.session_end(session=w["session"], actor=w["host"], now=timezone.now())
    page = html(Client().get(f"/live/{w['session'].pk}/", HTTP_ACCEPT_LANGUAGE="en"))
    assert 'data-status="ended"' in page
    assert "This live has ended" in page
    assert "100.00 THB" in page  # the catalogue price, not the live 80.00


# --- my orders -----------------------------------------------------------------------------


def test_my_orders_asks_to_sign_in_and_comes_back():
    for path in ("/me/orders/", "/me/orders/1/", "/me/coupons/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={path}"


def test_my_orders_lists_only_my_orders_with_status_and_total():
    # given: two buyers with an order each
    w = world(shipping="40")
    nok, other = user("nok"), user("dao")
    mine = place_live(nok, w, qty=2, method="promptpay")
    theirs = place_live(other, w, qty=1)
    # when
    page = html(signed_in(nok).get("/me/orders/"))
    # then
    assert f'href="/me/orders/{mine.pk}/"' in page
    assert f'href="/me/orders/{theirs.pk}/"' not in page
    assert "Waiting for payment" in page and "200.00 THB" in page  # 2 x 80 + 40
    assert "Mango \u00d7 2" in page


def test_my_orders_empty_state():
    page = html(signed_in(user("nok")).get("/me/orders/"))
    assert "No orders yet." in page


@pytest.mark.django_db(transaction=True)  # the drop's gate is armed on commit
def test_my_order_shows_totals_payment_instructions_and_an_empty_timeline():
    w = world(shipping="40")
    nok = user("nok")
    claim = coupon(w, nok)
    order = place_live(nok, w, qty=2, claim=claim.pk, method="promptpay")
    page = html(signed_in(nok).get(f"/me/orders/{order.pk}/"))
    assert f"Order #{order.pk}" in page
    assert "Waiting for payment" in page
    assert "160.00 THB" in page and "\u221216.00 THB" in page and "184.00 THB" in page
    payment = order.payments.get()
    assert f'src="/api/payments/promptpay/{payment.reference}/qr/"' in page
    assert f'data-until="{order.payment_due_at.isoformat()}"' in page
    assert "No tracking yet." in page
    assert "99 Moo 3" in page and "55000" in page


def test_my_order_renders_tracking_and_history_from_the_order_json(monkeypatch):
    # given: an order whose public shape carries tracking and history (A's fulfilment)
    w = world()
    nok = user("nok")
    order = place_live(nok, w)
    from orders import selectors

    real = selectors.order_data

    def with_tracking(o, *args, **kwargs):
        data = real(o, *args, **kwargs)
        data["tracking"] = [
            {"kind": "picked_up", "at": "2026-11-28T09:00:00+07:00", "location": "Nan", "note": ""},
            {"kind": "in_transit", "at": "2026-11-28T15:00:00+07:00", "location": "Phrae",
             "note": "Hub"},
            {"kind": "something_new", "at": "2026-11-29T08:00:00+07:00", "location": "",
             "note": ""},
        ]  # fmt: skip
        data["history"] = [
            {"kind": "placed", "at": "2026-11-28T07:59:00+07:00", "by": "buyer"},
            {"kind": "accepted", "at": "2026-11-28T08:00:00+07:00", "by": "seller"},
        ]  # fmt: skip
        return data

    monkeypatch.setattr(selectors, "order_data", with_tracking)
    # when
    page = html(signed_in(nok).get(f"/me/orders/{order.pk}/"))
    # then: newest first, known kinds in words, an unknown kind as it is
    assert "No tracking yet." not in page
    new, transit, picked = (
        page.index(t) for t in ("something_new", "On the way", "Picked up by the carrier")
    )
    assert new < transit < picked
    assert "Phrae" in page and "Hub" in page
    assert "Accepted by the farm" in page and "the farm" in page
    # a history entry that is not a status reads as words too
    assert "Order placed" in page
    # cash on delivery, not delivered yet: the buyer is reminded to pay at the door
    assert "Pay the courier when your order arrives." in page


def test_someone_elses_order_is_404_even_for_the_farms_host():
    w = world()
    nok = user("nok")
    order = place_live(nok, w)
    assert signed_in(user("dao")).get(f"/me/orders/{order.pk}/").status_code == 404
    # the seller sees it on the desk; "my orders" is the buyer's own
    assert signed_in(w["host"]).get(f"/me/orders/{order.pk}/").status_code == 404
    assert signed_in(nok).get(f"/me/orders/{order.pk}/").status_code == 200
    assert signed_in(nok).get("/me/orders/99999999/").status_code == 404


# --- my coupons ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the drop's gate is armed on commit
def test_my_coupons_lists_usable_ones_with_time_left_and_the_rest_apart():
    w = world()
    nok = user("nok")
    usable = coupon(w, nok)
    used = coupon(w, nok, kind="fixed", value=Decimal("20"))
    place_live(nok, w, claim=used.pk)
    someone_elses = coupon(w, user("dao"))
    page = html(signed_in(nok).get("/me/coupons/"))
    assert usable.code in page and used.code in page
    assert someone_elses.code not in page
    assert page.index(usable.code) < page.index("Used and expired") < page.index(used.code)
    until = re.search(r'data-until="([^"]+)"', page).group(1)
    assert parse_datetime(until) == usable.expires_at
    assert "10% off" in page
    assert f'href="/live/{w["session"].pk}/"' in page


@pytest.mark.django_db(transaction=True)  # the drop's gate is armed on commit
def test_my_coupons_counts_a_claim_past_its_time_as_expired():
    w = world()
    nok = user("nok")
    late = coupon(w, nok)
    type(late).objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page = html(signed_in(nok).get("/me/coupons/"))
    assert "No coupons to use right now." in page
    assert page.index("Used and expired") < page.index(late.code)


def test_my_coupons_empty_state():
    page = html(signed_in(user("nok")).get("/me/coupons/"))
    assert "No coupons to use right now." in page


def test_orders_page_shows_pages_past_twenty():
    w = world(stock=100, allotment=0)
    nok = user("nok")
    product = catalog.product_create(
        actor=w["host"], farm=w["farm"], name="Rice", unit="kg", price=Decimal("10"), stock=100
    )
    from orders.services.placing import order_place
    from tests.integration.order_world import ADDRESS

    for _ in range(21):
        order_place(
            buyer=nok, session=None, items=[{"product": product.pk, "qty": 1}], claim=None,
            address=ADDRESS, payment_method="cod", now=timezone.now(),
        )  # fmt: skip
    first = html(signed_in(nok).get("/me/orders/"))
    assert "1 / 2" in first and "?page=2" in first
    newest = Order.objects.filter(buyer=nok).order_by("-id")
    assert f"#{newest[0].pk}" in first and f"#{newest[20].pk}" not in first
    assert f"#{newest[20].pk}" in html(signed_in(nok).get("/me/orders/?page=2"))
