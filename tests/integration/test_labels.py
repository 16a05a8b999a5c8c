"""Packing slips and shipping labels: what a label shows, that Thai and Chinese names are
drawn (Thai checked in the rendered image: text extraction loses its tone marks), who may
print, and a session's labels built by a real Celery worker with its progress."""

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from orders.documents.builds import session_labels_build
from orders.documents.common import with_details
from orders.documents.labels import labels_pdf, packing_sorted
from orders.models import Order
from server.redis import redis_client
from tests.integration.label_world import (
    CHINESE_NAME,
    LATIN_NAME,
    THAI_NAME,
    char_fonts,
    pages_text,
    place,
    ship,
)
from tests.integration.order_world import user, world
from tests.integration.test_celery_worker import worker_process

pytestmark = pytest.mark.django_db

SCALE = 3  # pixels per PDF point in the rendered image
THAI_CONSONANTS = {chr(c) for c in range(0x0E01, 0x0E2F)}
NO_GLYPH = "\u0e5c\u0e5d\u0e5e\u0e5f"  # unassigned in the Thai block: no font draws them


@pytest.fixture
def labels_dir(settings, tmp_path: Path) -> Path:
    settings.LABELS_DIR = tmp_path / "labels"
    return settings.LABELS_DIR


def _glyph_crop(image: Image.Image, page_height: float, box: tuple[float, ...]) -> Image.Image:
    left, bottom, right, top = box
    area = (
        math.floor(left * SCALE), math.floor((page_height - top) * SCALE),
        math.ceil(right * SCALE) + 1, math.ceil((page_height - bottom) * SCALE) + 1,
    )  # fmt: skip
    return image.crop(area).convert("L").point(lambda v: 255 if v < 128 else 0)


def _is_tofu(ink: Image.Image) -> bool:
    """A "no glyph" box: a hollow rectangle, its four sides fully inked, empty inside."""
    bounds = ink.getbbox()
    if bounds is None:
        return False
    box = ink.crop(bounds)
    width, height = box.size
    pixels = box.load()

    def inked(points: list[tuple[int, int]]) -> float:
        return sum(pixels[p] > 0 for p in points) / len(points)

    sides = [
        inked([(x, 0) for x in range(width)]), inked([(x, height - 1) for x in range(width)]),
        inked([(0, y) for y in range(height)]), inked([(width - 1, y) for y in range(height)]),
    ]  # fmt: skip
    inside = [
        (x, y)
        for x in range(width // 4, width - width // 4)
        for y in range(height // 4, height - height // 4)
    ]
    return min(sides) > 0.85 and (not inside or inked(inside) < 0.05)


def _thai_glyphs(pdf: bytes, artifact: Path | None = None) -> list[tuple[str, str, bool, int]]:
    """Each Thai character on page 1: (character, font, drawn as tofu?, inked pixels)."""
    page = pdfium.PdfDocument(pdf)[0]
    image = page.render(scale=SCALE).to_pil()
    if artifact is not None:
        image.save(artifact)
    height = page.get_height()
    found = []
    for char, font, box in char_fonts(page):
        if "\u0e00" <= char <= "\u0e7f":
            ink = _glyph_crop(image, height, box)
            found.append((char, font, _is_tofu(ink), ink.histogram()[255]))
    return found


def test_a_sellers_label_shows_the_order(client_for, labels_dir):
    # given a cash-on-delivery order to a Chinese name, two lines
    w = world(stock=200, allotment=100)
    order = place(w, "lin", name=CHINESE_NAME, items=[(w["product"], 2), (w["other"], 1)],
                  phone="0899990000", note="Leave at the gate")  # fmt: skip
    # when its farm's seller asks for the label
    reply = client_for(w["host"]).get(f"/api/orders/{order.pk}/label.pdf")
    # then one page with everything the courier and the packer need
    assert reply.status_code == 200
    assert reply["Content-Type"] == "application/pdf"
    assert reply["Cache-Control"] == "private, no-store"
    (text,) = pages_text(reply.content)
    for expected in (
        f"Order {order.pk}", CHINESE_NAME, "Tel. 0899990000", "99 Moo 3", "Nan 55000",
        f"Cash on delivery: collect THB {order.total:,.2f}", "Mango 2 kg", "Honey 1 jar",
        "Leave at the gate", "Ban Rai",
    ):  # fmt: skip
        assert expected in text, expected


def test_a_shipped_orders_label_carries_its_tracking_number(client_for, labels_dir):
    w = world(stock=200, allotment=100)
    order = place(w, "kit", name=LATIN_NAME, items=[(w["product"], 1)])
    ship(w, order, "KEX0012345678")
    reply = client_for(w["host"]).get(f"/api/orders/{order.pk}/label.pdf")
    (text,) = pages_text(reply.content)
    assert "Tracking Kerry Express KEX0012345678" in text


def test_a_paid_order_has_no_cash_to_collect(client_for, labels_dir):
    w = world(stock=200, allotment=100)
    order = place(w, "sam", name=LATIN_NAME, items=[(w["product"], 1)], method="promptpay")
    assert order.status == "paid"
    reply = client_for(w["host"]).get(f"/api/orders/{order.pk}/label.pdf")
    (text,) = pages_text(reply.content)
    assert LATIN_NAME in text and f"Order {order.pk}" in text
    assert "Cash on delivery" not in text


def test_thai_is_drawn_with_a_thai_font_not_as_empty_boxes(labels_dir, tmp_path):
    w = world(stock=200, allotment=100)
    thai = place(w, "somsri", name=THAI_NAME, items=[(w["product"], 1)])
    blank = place(w, "nobody", name=NO_GLYPH, items=[(w["product"], 1)])
    orders = {o.pk: o for o in with_details(Order.objects.all())}
    # the detector: characters no font has come out as tofu, and it sees them
    reference = _thai_glyphs(labels_pdf([orders[blank.pk]]))
    assert reference and all(tofu for _, _, tofu, _ in reference), reference
    # the label (kept as an image for a person to look at)
    artifact = tmp_path / "talad-label.png"
    glyphs = _thai_glyphs(labels_pdf([orders[thai.pk]]), artifact)
    shutil.copy(artifact, Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / artifact.name)
    consonants = [g for g in glyphs if g[0] in THAI_CONSONANTS]
    assert {c for c, *_ in consonants} >= set("สมศรจด")
    for char, font, tofu, ink in consonants:
        assert not tofu, char
        assert ink > 20, char  # drawn, not blank
        assert "Thai" in font or "Loma" in font, (char, font)


def test_labels_are_the_sellers_alone(client_for, make_user, labels_dir):
    w = world(stock=200, allotment=100)
    buyer = user("buyer1")
    order = place(w, "buyer2", name=LATIN_NAME, items=[(w["product"], 1)])
    other_host = make_user("host")
    path = f"/api/orders/{order.pk}/label.pdf"
    # a stranger (another farm's seller) is told there is no such order
    reply = client_for(other_host).get(path)
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "not_found")
    # the buyer sees their order but does not print the farm's label
    reply = client_for(order.buyer).get(path, HTTP_ACCEPT="application/pdf")
    assert (reply.status_code, reply.json()["error"]["code"]) == (403, "forbidden")
    reply = client_for(buyer).get(path)
    assert reply.status_code == 404
    reply = client_for(None).get(path)
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "not_authenticated")
    reply = client_for(w["host"]).get(f"/api/orders/{order.pk + 1000}/label.pdf")
    assert reply.status_code == 404
    reply = client_for(w["host"]).get("/api/orders/99999999999999999999/label.pdf")
    assert reply.status_code == 404


def test_packing_order_puts_the_same_mix_together(labels_dir):
    w = world(stock=200, allotment=100)
    mango, honey = w["product"], w["other"]
    placed = [
        place(w, "a", name="A", items=[(mango, 1)]),
        place(w, "b", name="B", items=[(mango, 2)]),
        place(w, "c", name="C", items=[(mango, 1)]),
        place(w, "d", name="D", items=[(honey, 1), (mango, 1)]),
        place(w, "e", name="E", items=[(mango, 2)]),
        place(w, "f", name="F", items=[(mango, 1)]),
    ]
    a, b, c, d, e, f = (o.pk for o in placed)
    ordered = packing_sorted(with_details(Order.objects.all()))
    # the most common mix first, oldest first within a mix
    assert [o.pk for o in ordered] == [a, c, f, b, e, d]


def test_session_labels_are_the_hosts_alone(client_for, make_user, labels_dir):
    w = world(stock=200, allotment=100)
    buyer = user("watcher")
    path = f"/api/sessions/{w['session'].pk}/labels.pdf"
    for who in (make_user("host"), buyer):
        reply = client_for(who).get(path)
        assert (reply.status_code, reply.json()["error"]["code"]) == (403, "forbidden")
    reply = client_for(None).get(path)
    assert reply.status_code == 401
    reply = client_for(w["host"]).get(f"/api/sessions/{w['session'].pk + 100}/labels.pdf")
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "not_found")
    assert redis_client().llen("celery") == 0  # nothing was queued for any of them


def test_a_session_with_nothing_to_pack_answers_at_once(client_for, labels_dir):
    w = world(stock=200, allotment=100)
    place(w, "late", name=LATIN_NAME, items=[(w["product"], 1)], method="promptpay")
    Order.objects.update(status="shipped")  # packed and gone: nothing left to pack
    reply = client_for(w["host"]).get(f"/api/sessions/{w['session'].pk}/labels.pdf")
    assert reply.status_code == 200
    assert pages_text(b"".join(reply.streaming_content)) == ["No orders to pack."]


def test_concurrent_requests_queue_one_build(client_for, labels_dir):
    w = world(stock=200, allotment=100)
    for i in range(3):
        place(w, f"q{i}", name=LATIN_NAME, items=[(w["product"], 1)])
    seller = client_for(w["host"])
    path = f"/api/sessions/{w['session'].pk}/labels.pdf"
    # no worker runs: every request hears "queued", and one build waits in the queue
    for _ in range(3):
        reply = seller.get(path, HTTP_ACCEPT="application/pdf")  # still JSON, never 406
        assert reply.status_code == 202
        assert reply.json() == {"status": "queued", "done": 0, "total": 3, "retry_after_s": 1}
        assert reply["Retry-After"] == "1"
    assert redis_client().llen("celery") == 1


def test_a_build_is_named_by_the_orders_it_holds(labels_dir):
    w = world(stock=200, allotment=100)
    place(w, "one", name=LATIN_NAME, items=[(w["product"], 1)])
    first = session_labels_build(session_id=w["session"].pk, language="en", token=None)
    place(w, "two", name=CHINESE_NAME, items=[(w["product"], 1)])
    second = session_labels_build(session_id=w["session"].pk, language="en", token=None)
    # a new order, a new file; the stale one is gone
    assert first != second and second.exists() and not first.exists()
    assert len(pages_text(second.read_bytes())) == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_builds_a_sessions_labels_with_progress(settings, client_for, monkeypatch,
                                                         tmp_path):  # fmt: skip
    # given 12 orders of three mixes, and a worker laying out 3 labels per step
    monkeypatch.setenv("LABELS_DIR", str(tmp_path / "labels"))
    monkeypatch.setenv("LABELS_CHUNK", "3")
    settings.LABELS_DIR = tmp_path / "labels"
    w = world(stock=200, allotment=100)
    mango, honey = w["product"], w["other"]
    mixes = [[(mango, 1)], [(mango, 2)], [(honey, 1)]]
    placed = [
        place(w, f"buyer{i}", name=f"{LATIN_NAME} {i}", items=mixes[i % 3 if i < 9 else 0])
        for i in range(12)
    ]
    seller = client_for(w["host"])
    path = f"/api/sessions/{w['session'].pk}/labels.pdf"
    seen: list[tuple[str, int, int]] = []
    with worker_process(settings):
        deadline = time.monotonic() + 90
        while True:
            reply = seller.get(path)
            if reply.status_code == 200:
                break
            assert reply.status_code == 202, reply.content
            body = reply.json()
            assert reply["Retry-After"] == str(body["retry_after_s"])
            seen.append((body["status"], body["done"], body["total"]))
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        pdf = b"".join(reply.streaming_content)
        # then progress was visible while it built, step by step
        assert seen[0] == ("queued", 0, 12)
        assert any(s == "building" and 0 < done < 12 for s, done, _ in seen), seen
        dones = [done for _, done, _ in seen]
        assert dones == sorted(dones)
        # and the file holds every order, in packing order (mango x1 has 6 orders, then 3+3)
        pages = pages_text(pdf)
        numbers = [int(p.split("Order ")[1].split()[0]) for p in pages]
        ids = [o.pk for o in placed]
        assert numbers == [ids[i] for i in (0, 3, 6, 9, 10, 11, 1, 4, 7, 2, 5, 8)]
        assert [f"{k} / 12" in p for k, p in enumerate(pages, 1)] == [True] * 12
        # a second request is served the stored file, with no second build
        again = seller.get(path)
        assert again.status_code == 200
        # a new order to pack: the next request starts a new build, which includes it
        place(w, "latecomer", name=CHINESE_NAME, items=[(honey, 2)])
        reply = seller.get(path)
        assert reply.status_code == 202 and reply.json()["total"] == 13
        while (reply := seller.get(path)).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pages = pages_text(b"".join(reply.streaming_content))
        assert len(pages) == 13 and CHINESE_NAME in pages[-1]


def test_without_redis_a_build_is_unavailable_not_an_error(client_for, labels_dir, settings):
    w = world(stock=200, allotment=100)
    place(w, "r", name=LATIN_NAME, items=[(w["product"], 1)])
    seller = client_for(w["host"])
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    reply = seller.get(f"/api/sessions/{w['session'].pk}/labels.pdf")
    assert (reply.status_code, reply.json()["error"]["code"]) == (503, "unavailable")
    assert int(reply["Retry-After"]) >= 1
