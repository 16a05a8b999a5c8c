"""The label's barcodes: Code128 drawn as scalable SVG from python-barcode's modules."""

import re

import barcode
import pytest

from orders.documents.labels import QUIET_MODULES, code128_svg, qr_svg


def test_code128_draws_every_bar_of_the_symbol_with_quiet_zones():
    svg = str(code128_svg("10042"))
    modules = barcode.Code128("10042").build()[0]
    width = int(re.search(r'viewBox="0 0 (\d+) 30"', svg).group(1))
    assert width == len(modules) + 2 * QUIET_MODULES
    # the bars, laid back onto a row of modules, are the symbol exactly
    row = ["0"] * width
    for x, w in re.findall(r'<rect x="(\d+)" y="0" width="(\d+)"', svg):
        row[int(x) : int(x) + int(w)] = ["1"] * int(w)
    assert "".join(row) == "0" * QUIET_MODULES + modules + "0" * QUIET_MODULES


@pytest.mark.parametrize("text", ["", "ก123", "é"])
def test_code128_refuses_what_it_cannot_encode(text):
    with pytest.raises(ValueError):
        code128_svg(text)


def test_the_qr_scales_with_css():
    svg = str(qr_svg("10042"))
    assert 'class="qr"' in svg and "viewBox" in svg and "width=" not in svg.split(">")[0]
