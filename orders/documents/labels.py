"""Packing slips with shipping labels: one 100 x 150 mm page per order (the common 4 x 6 in
thermal label), drawn from an HTML template by WeasyPrint.

A label carries what the courier and the packer need and nothing the buyer did not give:
the recipient's address as placed, the lines to pack, the cash to collect on delivery, the
order number as Code128 (any handheld scanner) and QR (any phone), and the tracking number
once the order has shipped. Thai and Chinese names render with the system's Noto and TLWG
fonts (README, "Set-up").
"""

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

import barcode
import segno
from barcode.errors import BarcodeError
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from orders.documents.common import newest_tracking, with_details
from orders.models import Order, PaymentMethod
from orders.selectors import orders_visible_to
from server.accounts.models import User
from server.errors import Forbidden, NotFound

# Labels laid out per WeasyPrint document when a batch reports progress: big enough that
# layout start-up is shared, small enough that progress moves (bench/labels measures it).
DEFAULT_CHUNK = 25
ADDRESS_KEYS = ("line1", "line2", "subdistrict", "district", "province", "postcode")
QUIET_MODULES = 10  # Code128's quiet zone on each side, in bar widths


def order_for_label(*, order_id: int, user: User) -> Order:
    """An order of the user's own farm, ready to print. ``NotFound`` for an order the user
    cannot see, ``Forbidden`` for one they bought: the label is the seller's paper."""
    visible = orders_visible_to(user=user).prefetch_related(None).filter(pk=order_id)
    order = with_details(visible).first()
    if order is None:
        raise NotFound("No such order.")
    if order.farm.owner_id != user.pk:
        raise Forbidden("Labels are printed by the farm that sells the order.")
    return order


def order_number(order: Order) -> str:
    """What the barcodes encode and the label prints: the order's id, the number the API,
    the seller's desk and the webhooks already use, so a scan needs no second lookup."""
    return str(order.pk)


def code128_svg(text: str, *, height: int = 30) -> SafeString:
    """``text`` as a Code128 symbol in SVG with a viewBox, so CSS sizes it (python-barcode's
    own SVG writer fixes millimetres and has no viewBox). Raises ``ValueError`` for text
    Code128 cannot encode."""
    try:
        modules = barcode.Code128(text).build()[0] if text else ""
    except (BarcodeError, LookupError) as exc:
        raise ValueError(f"not encodable as Code128: {text!r}") from exc
    if not modules:
        raise ValueError("nothing to encode")
    bars = "".join(
        f'<rect x="{QUIET_MODULES + run.start()}" y="0" width="{run.end() - run.start()}" '
        f'height="{height}"/>'
        for run in re.finditer("1+", modules)
    )
    width = len(modules) + 2 * QUIET_MODULES
    return mark_safe(  # noqa: S308 -- numbers only: the text itself is not in the markup
        f'<svg xmlns="http://www.w3.org/2000/svg" class="code128" viewBox="0 0 {width} {height}"'
        f' preserveAspectRatio="none" role="img"><g fill="#000">{bars}</g></svg>'
    )


def qr_svg(text: str) -> SafeString:
    # segno escapes nothing of ours into the markup: the payload becomes modules, not text.
    return mark_safe(  # noqa: S308
        segno.make(text, error="m").svg_inline(omitsize=True, border=2, svgclass="qr")
    )


def packing_sorted(orders: Iterable[Order]) -> list[Order]:
    """The orders in the order to pack them: orders with the same mix (the same products in
    the same quantities) together, so a packer picks the same things over and over, the most
    common mix first (ties: the mix whose first order is oldest); oldest order first within
    a mix. Lines must be prefetched."""
    groups: dict[tuple[tuple[int, int], ...], list[Order]] = {}
    for order in sorted(orders, key=lambda o: o.pk):
        mix = tuple(sorted((line.product_id, line.qty) for line in order.lines.all()))
        groups.setdefault(mix, []).append(order)
    ranked = sorted(groups.values(), key=lambda group: (-len(group), group[0].pk))
    return [order for group in ranked for order in group]


def address_lines(address: dict[str, Any]) -> list[str]:
    parts = {key: str(address.get(key) or "").strip() for key in ADDRESS_KEYS}
    lines = [
        parts["line1"],
        parts["line2"],
        " ".join(p for p in (parts["subdistrict"], parts["district"]) if p),
        " ".join(p for p in (parts["province"], parts["postcode"]) if p),
    ]
    country = str(address.get("country") or "TH")
    if country != "TH":
        lines.append(country)
    return [line for line in lines if line]


def label_data(order: Order, *, position: int = 1, count: int = 1) -> dict[str, Any]:
    """What one label shows (the template's context for one page). ``order`` comes from
    ``common.with_details``."""
    address = order.address if isinstance(order.address, dict) else {}
    number = order_number(order)
    tracking = newest_tracking(order)
    tracking_bars = None
    if tracking is not None:
        try:
            tracking_bars = code128_svg(tracking.number)
        except ValueError:
            tracking_bars = None  # printed as text only
    return {
        "number": number,
        "position": position,
        "count": count,
        "farm": order.farm,
        "recipient": str(address.get("name") or ""),
        "address": address_lines(address),
        "phone": str(address.get("phone") or ""),
        "note": str(address.get("note") or ""),
        "lines": [
            {"name": line.name, "qty": line.qty, "unit": line.unit} for line in order.lines.all()
        ],
        "cod": f"{order.total:,.2f}" if order.payment_method == PaymentMethod.COD else None,
        "currency": order.currency,
        "created_at": order.created_at,
        "barcode": code128_svg(number),
        "qr": qr_svg(number),
        "tracking": tracking,
        "tracking_barcode": tracking_bars,
    }


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Labels are drawn from our own markup with everything inline: WeasyPrint fetches no
    URL and reads no file, whatever text a buyer typed."""
    raise ValueError(f"labels load nothing: {url[:60]}")


@cache
def _weasyprint() -> Any:
    # Imported on first use: it loads Pango through cffi, which only the label paths need.
    import weasyprint

    return weasyprint


def _document(labels: list[dict[str, Any]]) -> Any:
    html = render_to_string("orders/labels.html", {"labels": labels})
    return _weasyprint().HTML(string=html, url_fetcher=_refuse_fetch).render()


def labels_pdf(
    orders: Sequence[Order],
    *,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> bytes:
    """One PDF with a label per order, in the sequence given (see ``labels_render``)."""
    count = len(orders)
    labels = [label_data(o, position=i, count=count) for i, o in enumerate(orders, 1)]
    return labels_render(labels, chunk=chunk, on_progress=on_progress)


def labels_render(
    labels: Sequence[dict[str, Any]],
    *,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> bytes:
    """The PDF of ``label_data`` pages. Layout runs ``chunk`` labels per WeasyPrint document
    and reports the labels done after each (``on_progress``); the pages are then written as
    one file, each font embedded once. No labels: one page saying so."""
    documents = []
    for start in range(0, len(labels), max(1, chunk)):
        part = list(labels[start : start + chunk])
        documents.append(_document(part))
        if on_progress is not None:
            on_progress(start + len(part))
    if not documents:
        documents.append(_document([]))
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf()
