"""Lay out a session's labels our way and the obvious other ways, side by side in one run.

``--labels`` labels (default 50; Thai, Chinese and Latin names, one to three lines, cash on
delivery on every other one), from the same per-label data and template as the app; no
database, no Redis, no worker: only the layout and the PDF are measured.

Variants:

- ``ours``       ``orders.documents.labels.labels_render`` as the worker runs it: ``--chunk``
                 labels (``LABELS_CHUNK``, 25) per WeasyPrint layout, a progress report after
                 each, every page written as one PDF with each font embedded once.
- ``one-doc``    all labels in one WeasyPrint document: the fewest layouts, but no progress
                 until the whole file is done.
- ``per-label``  each label its own document and PDF, as ``GET /api/orders/{id}/label.pdf``
                 makes one, the files then merged with pdfium: reusing the single-label path.

Per variant: median wall and CPU seconds over ``--repeat`` rounds (after one warm-up round of
every variant, which loads the fonts), milliseconds per label (wall), and the file's size.
Then the ratios of ``per-label`` and ``one-doc`` to ``ours``. On a shared machine CPU seconds
are the steadier figure.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

NAMES = ("สมศรี ใจดี", "王小明", "Somchai Jaidee", "บุญมี ศรีสุข", "李秀英")
PRODUCTS = (("มะม่วงน้ำดอกไม้", "kg"), ("Wild honey", "jar"), ("普洱茶", "pack"))


@dataclass
class Result:
    variant: str
    wall_s: float
    cpu_s: float
    ms_per_label: float
    size_kb: float
    other: str = ""
    note: str = ""


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
    # The settings' embedded default makes a data folder; the bench keeps it out of the repo.
    os.environ.setdefault("TALAD_DATA_DIR", tempfile.mkdtemp(prefix="bench-labels-"))
    import django

    django.setup()


def make_labels(count: int) -> list[dict[str, Any]]:
    """``count`` labels as ``label_data`` shapes them, with barcodes drawn the same way."""
    from orders.documents.labels import code128_svg, qr_svg

    farm = SimpleNamespace(name="สวนบ้านไร่ Ban Rai", district="Pua", province="Nan")
    labels = []
    for i in range(count):
        number = str(10_000 + i)
        picked = [PRODUCTS[(i + k) % 3] for k in range(1 + i % 3)]
        lines = [
            {"name": name, "qty": 1 + (i + k) % 4, "unit": unit}
            for k, (name, unit) in enumerate(picked)
        ]
        labels.append({
            "number": number, "position": i + 1, "count": count, "farm": farm,
            "recipient": NAMES[i % len(NAMES)],
            "address": ["99 หมู่ 3", "ต.ศิลาแลง อ.ปัว", f"Nan 55{i % 100:03d}"],
            "phone": f"08{i:08d}", "note": "",
            "lines": lines,
            "cod": f"{Decimal(180 + i):,.2f}" if i % 2 == 0 else None, "currency": "THB",
            "created_at": None, "barcode": code128_svg(number), "qr": qr_svg(number),
            "tracking": None, "tracking_barcode": None,
        })  # fmt: skip
    return labels


def per_label_merged(labels: list[dict[str, Any]]) -> bytes:
    import pypdfium2 as pdfium

    from orders.documents.labels import labels_render

    merged = pdfium.PdfDocument.new()
    for label in labels:
        merged.import_pages(pdfium.PdfDocument(labels_render([label])))
    out = io.BytesIO()
    merged.save(out)
    return out.getvalue()


def measure(name: str, build: Callable[[], bytes], count: int, repeat: int) -> Result:
    walls, cpus, size = [], [], 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        size = len(build())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    wall_s = statistics.median(walls)
    return Result(name, wall_s, statistics.median(cpus), 1000 * wall_s / count, size / 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    _setup()
    from bench.stats import table
    from orders.documents.labels import labels_render

    labels = make_labels(args.labels)
    variants: dict[str, Callable[[], bytes]] = {
        "per-label": lambda: per_label_merged(labels),
        "one-doc": lambda: labels_render(labels, chunk=len(labels)),
        "ours": lambda: labels_render(labels, chunk=args.chunk, on_progress=lambda done: None),
    }
    for build in variants.values():  # warm-up: fonts loaded, caches filled, for every variant
        build()
    results = [measure(n, b, args.labels, args.repeat) for n, b in variants.items()]
    columns = [
        ("variant", "{}", "variant"), ("wall_s", "{:.2f}", "wall s"), ("cpu_s", "{:.2f}", "cpu s"),
        ("ms_per_label", "{:.1f}", "ms/label"), ("size_kb", "{:.0f}", "PDF KiB"),
    ]  # fmt: skip
    print(f"{args.labels} labels, chunk {args.chunk}, median of {args.repeat}")
    print(table(results, columns, other=""))
    by = {r.variant: r for r in results}
    ours = by["ours"]
    for name in ("per-label", "one-doc"):
        other = by[name]
        print(
            f"{name} / ours: {other.wall_s / ours.wall_s:.2f}x the wall time, "
            f"{other.cpu_s / ours.cpu_s:.2f}x the CPU, {other.size_kb / ours.size_kb:.2f}x the file"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
