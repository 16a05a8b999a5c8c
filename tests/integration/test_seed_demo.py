"""The demo seed makes what the README promises, once: accounts, farms, a live now with
orders for the farm's desk, and a past every report page reads real numbers from.

Transactional: the seed commits step by step as the product does, and what runs after a
commit (coupon gates, the sessions' metric buckets) must run.
"""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from catalog.models import Farm, Product
from coupons.models import Campaign, Claim, Drop
from frontend.management.commands.seed_demo import LIVE_NOW, PAST
from orders.models import Order, OrderEvent, OrderLine, Payment, Shipment, TrackingEvent
from server.accounts import services as accounts
from server.accounts.models import User
from server.outbox.models import OutboxEvent
from streams.models import ChatMessage, LiveSession, SessionMinute, ShowcaseItem

pytestmark = pytest.mark.django_db(transaction=True)

COUNTED = (User, Farm, Product, LiveSession, ShowcaseItem, ChatMessage, Campaign, Drop, Claim,
           Order, OrderLine, OrderEvent, Payment, Shipment, TrackingEvent, SessionMinute,
           OutboxEvent)  # fmt: skip


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def _seed(capsys) -> tuple[dict[str, int], str]:
    call_command("seed_demo")
    first = _counts()
    printed = capsys.readouterr().out
    call_command("seed_demo")
    assert "Demo data already present" in capsys.readouterr().out
    assert _counts() == first, "a second run adds nothing"
    return first, printed


def _session(title: str) -> LiveSession:
    return LiveSession.objects.get(title=title)


def test_seed_is_complete_and_idempotent(capsys):
    counts, printed = _seed(capsys)
    assert counts["User"] == 10  # four people, five shoppers, staff
    assert (counts["Farm"], counts["Product"], counts["LiveSession"]) == (2, 4, 7)
    assert Farm.objects.filter(poverty_county=True).count() == 1
    assert set(User.objects.filter(is_host=True).values_list("username", flat=True)) == {
        "somchai",
        "malee",
    }
    assert User.objects.filter(is_promoter=True).count() == 1
    assert LiveSession.objects.filter(status="scheduled").count() == 2
    assert LiveSession.objects.filter(status="ended").count() == len(PAST)
    # one session is live, its showcase's allotments out of stock, some sold already
    live = LiveSession.objects.get(status="live")
    assert live.host.username == "somchai" and live.title == LIVE_NOW.title
    items = {i.product.unit: (i.allotment, i.left) for i in live.showcase.all()}
    assert items == {"box": (40, 34), "bottle": (20, 19)}
    assert "mango-season-2026" in printed and "watch-and-buy-2026" in printed
    assert User.objects.get(username="nok").check_password("watch-and-buy-2026")
    # every order reached the state its plan names, nothing is left half-done
    statuses = list(Order.objects.order_by("id").values_list("status", flat=True))
    planned = [sale.fate for live in [*PAST, LIVE_NOW] for sale in live.sales]
    assert statuses == planned
    assert {"completed", "delivered", "shipped", "packed", "accepted", "paid", "cancelled",
            "refunded"} <= set(statuses)  # fmt: skip
    methods = set(Order.objects.values_list("payment_method", flat=True))
    assert methods == {"cod", "promptpay", "sandbox"}
    # parcels went by Thailand Post with S10 numbers and a timeline of scans
    assert set(Shipment.objects.values_list("carrier", flat=True)) == {"thailandpost"}
    assert all(len(n) == 13 and n.endswith("TH") for n in
               Shipment.objects.values_list("tracking_number", flat=True))  # fmt: skip
    assert counts["TrackingEvent"] >= 2 * counts["Shipment"]


def test_seeded_past_fills_every_report(capsys):
    _seed(capsys)
    cache.clear()
    somchai, ploy, nok = (User.objects.get(username=n) for n in ("somchai", "ploy", "nok"))
    campaign_live = _session(PAST[-1].title)
    host, promoter = Client(), Client()
    host.force_login(somchai)
    promoter.force_login(ploy)

    # the post-live report of the promoter's live: a timeline, the drops, the money
    report = host.get(f"/api/sessions/{campaign_live.pk}/report/").json()
    assert len(report["timeline"]) == len(PAST[-1].viewers)
    assert sum(m["orders"] for m in report["timeline"]) == len(PAST[-1].sales)
    assert report["totals"]["viewers_peak"] == max(PAST[-1].viewers)
    assert report["totals"]["claims"] == 6 and report["totals"]["redeemed"] == 6
    assert [d["close_reason"] for d in report["drops"]] == ["exhausted", "expired"]
    money = report["money"]
    assert (money["orders_cancelled"], money["orders_refunded"]) == (1, 1)
    assert money["orders_settled"] == 2 and Decimal(money["farm_received"]) > 0
    # and the promoter reads it too, without the farm's money
    assert promoter.get(f"/api/sessions/{campaign_live.pk}/report/").json()["money"] is None

    # the campaign's return has numbers
    campaign = Campaign.objects.get(owner=ploy)
    stats = promoter.get(f"/api/campaigns/{campaign.pk}/stats/").json()
    assert stats["claimed"] == 8 and stats["redeemed"] == 6
    assert Decimal(stats["gmv"]) > 0 and Decimal(stats["discount_given"]) > 0
    assert len(stats["sessions"]) == 2

    # household impact: income in four months, both farms, the poverty county's share
    impact = Client().get("/api/impact/").json()
    assert sum(1 for m in impact["months"] if Decimal(m["income"]) > 0) == 4
    assert {p["province"] for p in impact["provinces"]} == {"Nan", "Chachoengsao"}
    assert 0 < Decimal(impact["totals"]["income_poverty"]) < Decimal(impact["totals"]["income"])
    assert impact["poverty_counties"][0]["households"] == 42

    # nok: orders with a tracking timeline, a coupon to use, and one used
    buyer = Client()
    buyer.force_login(nok)
    mine = buyer.get("/api/orders/").json()["results"]
    delivered = [o for o in mine if o["status"] == "delivered"]
    assert delivered and [e["kind"] for e in delivered[0]["tracking"]] == [
        "picked_up", "in_transit", "out_for_delivery", "delivered"]  # fmt: skip
    assert {"completed", "shipped"} <= {o["status"] for o in mine}
    coupons = buyer.get("/api/me/coupons/").json()
    coupons = coupons.get("results", coupons)
    assert {c["status"] for c in coupons} == {"claimed", "redeemed"}

    # somchai's desk: the live's orders waiting to be accepted or packed
    live = LiveSession.objects.get(status="live")
    waiting = Order.objects.filter(session=live, status__in=("paid", "accepted"))
    assert waiting.count() == len(LIVE_NOW.sales)

    # and the pages open on that data, not on their empty states
    pages = [
        (host, f"/reports/sessions/{campaign_live.pk}/"),
        (host, f"/desk/orders/?session={live.pk}"),
        (host, "/desk/"),
        (promoter, f"/promote/campaigns/{campaign.pk}/"),
        (promoter, "/promote/"),
        (buyer, "/me/orders/"),
        (buyer, f"/me/orders/{delivered[0]['id']}/"),
        (buyer, "/me/coupons/"),
        (Client(), "/impact/"),
    ]
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        assert '<p class="empty">' not in page, path
    tracking = delivered[0]["shipments"][0]["tracking_number"]
    assert tracking in buyer.get(f"/me/orders/{delivered[0]['id']}/").content.decode()
    assert "<svg" in host.get(f"/reports/sessions/{campaign_live.pk}/").content.decode()


def test_a_data_folder_seeded_before_the_past_keeps_working(capsys):
    # given nok as an earlier version of the seed made her: joined today, after the past
    accounts.user_register(username="nok", password="watch-and-buy-2026")
    # when
    call_command("seed_demo")
    # then the seed succeeds, without lives her coupons would have been refused in
    assert "joined after its past" in capsys.readouterr().err
    assert LiveSession.objects.filter(status="scheduled").count() == 2
    assert LiveSession.objects.exclude(status="scheduled").count() == 0
    assert Order.objects.count() == 0
