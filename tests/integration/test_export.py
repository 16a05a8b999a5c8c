"""The seller's CSV export: its columns, one row per line, safe in a spreadsheet, Thai intact
in Excel's reading (UTF-8 with a BOM), the date filters, and whose orders it holds."""

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from orders.documents.export import COLUMNS
from orders.models import Order
from tests.integration.label_world import THAI_NAME, place, ship
from tests.integration.order_world import user, world

pytestmark = pytest.mark.django_db


def _pieces(reply) -> list[bytes]:
    """The body as daphne reads it: an async stream, piece by piece."""

    async def read() -> list[bytes]:
        return [piece async for piece in reply.streaming_content]

    return async_to_sync(read)()


def _rows(reply) -> list[dict[str, str]]:
    assert reply.status_code == 200, reply.content
    assert reply["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.streaming
    raw = b"".join(_pieces(reply))
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 only with its BOM
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    header = next(reader)
    assert tuple(header) == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_one_row_per_line_with_the_orders_columns(client_for):
    w = world(stock=200, allotment=100)
    order = place(w, "somsri", name=THAI_NAME, items=[(w["product"], 2), (w["other"], 1)],
                  district="ปัว", phone="0812345678")  # fmt: skip
    rows = _rows(client_for(w["host"]).get("/api/orders/export.csv"))
    assert [r["line"] for r in rows] == ["Mango", "Honey"]
    first = rows[0]
    assert first["order"] == str(order.pk)
    assert first["buyer"] == "somsri"
    # Thai survives the round trip, tone marks included
    assert first["address"] == f"{THAI_NAME}, 99 Moo 3, ปัว, Nan 55000"
    assert first["phone"] == "0812345678"
    assert (first["qty"], first["unit"], first["unit_price"], first["line_amount"]) == (
        "2", "kg", "80.00", "160.00",
    )  # fmt: skip
    assert (rows[1]["qty"], rows[1]["unit"], rows[1]["unit_price"]) == ("1", "jar", "50.00")
    for row in rows:  # the order's own columns on every line
        assert (row["discount"], row["total"], row["currency"]) == ("0.00", "210.00", "THB")
        assert (row["payment"], row["status"], row["tracking"]) == ("cod", "accepted", "")
    # the time, in the display time zone (Asia/Bangkok: UTC+7)
    local = order.created_at.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE))
    assert first["date"] == local.strftime("%Y-%m-%d %H:%M:%S")


def test_a_shipped_order_carries_its_carrier_and_tracking_number(client_for):
    w = world(stock=200, allotment=100)
    order = place(w, "kit", name="Kit", items=[(w["product"], 1)])
    ship(w, order, "KEX0012345678")
    (row,) = _rows(client_for(w["host"]).get("/api/orders/export.csv"))
    assert (row["status"], row["carrier"], row["tracking"]) == (
        "shipped", "kerry", "KEX0012345678",
    )  # fmt: skip


def test_cells_a_spreadsheet_would_run_are_defused(client_for):
    w = world(stock=200, allotment=100)
    place(w, "mallory", name='=HYPERLINK("http://evil.example","click")',
          items=[(w["product"], 1)], phone="+66812345678", line1="@SUM(A1:A9)",
          note="-2+3")  # fmt: skip
    (row,) = _rows(client_for(w["host"]).get("/api/orders/export.csv"))
    assert row["address"].startswith("'=HYPERLINK(")
    assert row["phone"] == "'+66812345678"
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_dates_filter_by_day_in_the_display_time_zone(client_for):
    w = world(stock=200, allotment=100)
    placed = [place(w, f"d{i}", name=f"Buyer {i}", items=[(w["product"], 1)]) for i in range(3)]
    # 1 March 23:30 and 2 March 00:30 in Bangkok are both 1 March in UTC
    times = [
        datetime(2025, 2, 28, 12, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 16, 30, tzinfo=UTC),
        datetime(2025, 3, 1, 17, 30, tzinfo=UTC),
    ]
    for order, at in zip(placed, times, strict=True):
        Order.objects.filter(pk=order.pk).update(created_at=at)
    seller = client_for(w["host"])

    def orders(query: str) -> list[int]:
        return [int(r["order"]) for r in _rows(seller.get(f"/api/orders/export.csv?{query}"))]

    ids = [o.pk for o in placed]
    assert orders("from=2025-03-01&to=2025-03-01") == [ids[1]]
    assert orders("from=2025-03-02") == [ids[2]]
    assert orders("to=2025-02-28") == [ids[0]]
    assert orders("from=2025-03-01T23:30:00%2B07:00&to=2025-03-01T23:30:00%2B07:00") == [ids[1]]
    assert orders(f"session={w['session'].pk}") == ids
    assert orders("") == ids


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-02-30", "to=yesterday", "from=2025-01-01T25:00", "from=2025-03-02&to=2025-03-01",
        "from=0001-01-01", "to=9999-12-31", "from=%00", "from=" + "1" * 100, "session=abc",
        "session=-1", "from=2025-1-1",
    ],
)  # fmt: skip
def test_bad_filters_are_invalid(client_for, query):
    w = world(stock=200, allotment=100)
    reply = client_for(w["host"]).get(f"/api/orders/export.csv?{query}")
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid")


def test_a_seller_exports_only_their_farms_orders(client_for, make_user):
    w = world(stock=200, allotment=100)
    place(w, "shopper", name="Mine", items=[(w["product"], 1)])
    other = make_user("host")
    # another seller: none of this farm's orders, by session or not
    assert _rows(client_for(other).get("/api/orders/export.csv")) == []
    reply = client_for(other).get(f"/api/orders/export.csv?session={w['session'].pk}")
    assert _rows(reply) == []
    # a buyer is not a seller; nobody unnamed is anyone
    buyer = Order.objects.get().buyer
    reply = client_for(buyer).get("/api/orders/export.csv")
    assert (reply.status_code, reply.json()["error"]["code"]) == (403, "forbidden")
    reply = client_for(user("nosy")).get("/api/orders/export.csv")
    assert reply.status_code == 403
    reply = client_for(None).get("/api/orders/export.csv")
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "not_authenticated")


def test_many_orders_stream_in_pieces(client_for, monkeypatch):
    from orders.documents import export

    monkeypatch.setattr(export, "BATCH", 2)
    w = world(stock=200, allotment=100)
    ids = [place(w, f"m{i}", name=f"B{i}", items=[(w["product"], 1)]).pk for i in range(5)]
    reply = client_for(w["host"]).get("/api/orders/export.csv")
    assert len(_pieces(reply)) == 1 + 3  # the header, then 2 + 2 + 1 orders
    rows = _rows(client_for(w["host"]).get("/api/orders/export.csv"))
    assert [int(r["order"]) for r in rows] == ids
