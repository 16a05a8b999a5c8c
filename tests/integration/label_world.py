"""Orders to pack, placed through the services, and how the label tests read a PDF."""

import ctypes
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from django.utils import timezone

from orders.models import Order
from orders.services.fulfilment import order_pack, order_ship
from orders.services.payments import payment_event_apply
from orders.services.placing import order_place
from tests.integration.order_world import ADDRESS, user

THAI_NAME = "สมศรี ใจดี"
CHINESE_NAME = "王小明"
LATIN_NAME = "Somchai Jaidee"


def place(w: dict, buyer: str, *, name: str, items: list[tuple[Any, int]], method: str = "cod",
          **address: str) -> Order:  # fmt: skip
    """A cash-on-delivery order (``accepted`` at once), or a paid PromptPay one."""
    order = order_place(
        buyer=user(buyer), session=w["session"].pk,
        items=[{"product": product.pk, "qty": qty} for product, qty in items], claim=None,
        address={**ADDRESS, "name": name, **address}, payment_method=method,
        now=timezone.now(),
    )  # fmt: skip
    if method == "promptpay":
        payment = order.payments.get()
        event = {
            "id": f"evt_{order.pk}", "type": "payment.succeeded",
            "data": {"reference": payment.reference, "amount": str(payment.amount),
                     "currency": payment.currency},
        }  # fmt: skip
        assert payment_event_apply(provider="promptpay", event=event, now=timezone.now()) == (
            "applied"
        )
    order.refresh_from_db()
    return order


def ship(w: dict, order: Order, number: str, carrier: str = "kerry") -> None:
    """Packed and handed to ``carrier`` by the farm's host, through the services."""
    order_pack(order_id=order.pk, actor=w["host"], now=timezone.now())
    order_ship(order_id=order.pk, actor=w["host"], carrier=carrier, tracking_number=number,
               now=timezone.now())  # fmt: skip


def pages_text(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    return [document[i].get_textpage().get_text_range() for i in range(len(document))]


def char_fonts(page: pdfium.PdfPage) -> list[tuple[str, str, tuple[float, ...]]]:
    """Each character pdfium reads on the page: (character, font name, tight box in
    points from the bottom left)."""
    text = page.get_textpage()
    found = []
    for i in range(text.count_chars()):
        name = ctypes.create_string_buffer(256)
        flags = ctypes.c_int()
        pdfium_c.FPDFText_GetFontInfo(text.raw, i, name, 256, ctypes.byref(flags))
        found.append((text.get_text_range(i, 1), name.value.decode(), text.get_charbox(i)))
    return found
