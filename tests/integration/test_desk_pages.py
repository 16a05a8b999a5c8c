"""The seller desk's pages: who may open them, what each host sees (their own rows only),
empty states, and a list of many orders that stays a page of rows and a few queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from catalog import services as catalog
from streams import services as streams
from tests.integration import order_world
from tests.integration.order_world import place_live

pytestmark = pytest.mark.django_db

PAGES = ["/desk/", "/desk/products/", "/desk/sessions/", "/desk/orders/", "/desk/webhooks/"]


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", [*PAGES, "/desk/products/new/", "/desk/webhooks/3/"])
def test_signed_out_visitors_are_sent_to_log_in(client, path):
    reply = client.get(path)
    assert reply.status_code == 302
    assert reply["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize("path", PAGES)
def test_a_buyer_gets_a_page_that_says_the_desk_is_for_hosts(viewer, path):
    reply = _client(viewer).get(path)
    assert reply.status_code == 403
    assert reply["Content-Type"].startswith("text/html")
    assert "The seller desk is for farm hosts" in reply.content.decode()


def test_a_new_host_sees_empty_states_that_say_what_to_do_next(host):
    client = _client(host)
    assert "You have no farm yet." in client.get("/desk/").content.decode()
    assert "Create your farm first" in client.get("/desk/products/").content.decode()
    assert "Create your farm first" in client.get("/desk/sessions/").content.decode()
    assert "No orders yet." in client.get("/desk/orders/").content.decode()
    new_product = client.get("/desk/products/new/")
    assert new_product.status_code == 302
    assert new_product["Location"] == "/desk/farms/new/"
    assert client.get("/desk/farms/new/").status_code == 200


def test_the_desk_link_shows_for_hosts_only(host, viewer):
    assert 'href="/desk/"' in _client(host).get("/").content.decode()
    assert 'href="/desk/"' not in _client(viewer).get("/").content.decode()


@pytest.fixture
def two_hosts():
    """Two hosts, each with a farm, a product, a live session and an order; the second's
    rows must never reach the first's desk."""
    mine = order_world.world(stock=40, allotment=10)
    buyer = order_world.user("buyer")
    mine_order = place_live(buyer, mine)
    theirs_host = order_world.user("otherhost", "host")
    theirs_farm = catalog.farm_create(
        owner=theirs_host, name="Doi Tung Coffee", province="Chiang Rai", district="Mae Fa Luang"
    )
    theirs_product = catalog.product_create(
        actor=theirs_host, farm=theirs_farm, name="Arabica beans", unit="bag",
        price=Decimal("250.00"), stock=30,
    )  # fmt: skip
    now = timezone.now()
    theirs_session = streams.session_create(
        host=theirs_host, farm=theirs_farm, title="Coffee cupping live", now=now
    )
    streams.session_start(session=theirs_session, actor=theirs_host, now=now)
    streams.showcase_add(
        session=theirs_session, actor=theirs_host, product=theirs_product,
        live_price=Decimal("200.00"), allotment=5, now=now,
    )  # fmt: skip
    theirs = {"host": theirs_host, "farm": theirs_farm, "product": theirs_product,
              "session": theirs_session}  # fmt: skip
    theirs_order = place_live(buyer, theirs)
    return mine, mine_order, theirs, theirs_order


def test_a_host_sees_their_own_farm_products_sessions_and_orders_only(two_hosts):
    mine, mine_order, theirs, theirs_order = two_hosts
    client = _client(mine["host"])
    pages = {path: client.get(path).content.decode() for path in PAGES}
    assert "Ban Rai" in pages["/desk/"]
    assert "Pua, Nan" in pages["/desk/"]
    assert "Mango" in pages["/desk/products/"]
    assert "Live" in pages["/desk/sessions/"]
    assert f'data-order="{mine_order.pk}"' in pages["/desk/orders/"]
    for html in pages.values():
        assert "Doi Tung Coffee" not in html
        assert "Arabica beans" not in html
        assert "Coffee cupping live" not in html
        assert f'data-order="{theirs_order.pk}"' not in html
    # another host's objects by URL: not found, as if they did not exist
    assert client.get(f"/desk/farms/{theirs['farm'].pk}/").status_code == 404
    assert client.get(f"/desk/products/{theirs['product'].pk}/").status_code == 404
    assert client.get(f"/desk/orders/{theirs_order.pk}/").status_code == 404
    # and their session as an order filter is ignored: it shows my orders, not theirs
    filtered = client.get(f"/desk/orders/?session={theirs['session'].pk}").content.decode()
    assert f'data-order="{mine_order.pk}"' in filtered
    assert f'data-order="{theirs_order.pk}"' not in filtered


def test_edit_pages_carry_the_objects_values_and_api_paths(two_hosts):
    mine, mine_order, _, _ = two_hosts
    client = _client(mine["host"])
    farm = client.get(f"/desk/farms/{mine['farm'].pk}/").content.decode()
    assert f'data-api="/api/farms/{mine["farm"].pk}/"' in farm
    assert 'data-method="PATCH"' in farm
    assert 'value="Nan"' in farm
    product = client.get(f"/desk/products/{mine['product'].pk}/").content.decode()
    assert f'data-api="/api/products/{mine["product"].pk}/"' in product
    assert 'name="photo" type="file"' in product
    assert "data-multipart" in product
    order = client.get(f"/desk/orders/{mine_order.pk}/").content.decode()
    assert f"Order #{mine_order.pk}" in order
    assert "Somchai Jaidee" in order
    assert "1 kg" in order


def test_order_filters_by_status_and_session_and_ignores_nonsense(two_hosts):
    mine, mine_order, _, _ = two_hosts
    client = _client(mine["host"])
    accepted = client.get("/desk/orders/?status=accepted").content.decode()  # cash on delivery
    assert f'data-order="{mine_order.pk}"' in accepted
    shipped = client.get("/desk/orders/?status=shipped").content.decode()
    assert "No orders match these filters." in shipped
    nonsense = client.get("/desk/orders/?status=bogus&session=1e9&page=-3")
    assert nonsense.status_code == 200
    assert f'data-order="{mine_order.pk}"' in nonsense.content.decode()
    session = client.get(f"/desk/orders/?session={mine['session'].pk}").content.decode()
    assert f'data-labels="{mine["session"].pk}"' in session


def test_ended_sessions_link_to_their_report_and_open_ones_to_the_studio(two_hosts):
    mine, _, _, _ = two_hosts
    host, session = mine["host"], mine["session"]
    later = streams.session_create(
        host=host, farm=mine["farm"], title="Durian Sunday",
        scheduled_at=timezone.now() + timedelta(days=2), now=timezone.now(),
    )  # fmt: skip
    streams.session_end(session=session, actor=host, now=timezone.now())
    html = _client(host).get("/desk/sessions/").content.decode()
    assert f'href="/reports/sessions/{session.pk}/"' in html
    assert f'href="/studio/{later.pk}/"' in html
    assert f'href="/reports/sessions/{later.pk}/"' not in html


def test_many_orders_render_a_page_at_a_time_in_a_few_queries(
    django_assert_max_num_queries,
):
    # given 180 orders on one farm
    w = order_world.world(stock=400, allotment=200)
    buyer = order_world.user("buyer")
    orders = [place_live(buyer, w) for _ in range(180)]
    client = _client(w["host"])
    client.get("/desk/orders/")  # warm the session and translation caches
    # when
    with django_assert_max_num_queries(12):
        first = client.get("/desk/orders/").content.decode()
    last = client.get("/desk/orders/?page=4").content.decode()
    # then 50 rows a page, newest first, and the last page holds the oldest 30
    assert first.count('<tr data-order="') == 50
    assert f'data-order="{orders[-1].pk}"' in first
    assert "Page 1 of 4" in first
    assert last.count('<tr data-order="') == 30
    assert f'data-order="{orders[0].pk}"' in last
