"""UPU S10 tracking numbers: the check digit and the shape."""

import pytest

from orders.carriers import carrier_get
from orders.carriers.s10 import s10_check_digit, s10_valid
from server.errors import Invalid


def test_the_check_digit_of_known_numbers():
    assert s10_check_digit("58262152") == 9  # EF582621529TH
    assert s10_check_digit("12345678") == 5  # sum 204; 204 % 11 = 6; 11 - 6 = 5
    assert s10_valid("EF582621529TH")
    assert s10_valid("RR123456785CN")


def test_eleven_writes_five_and_ten_writes_zero():
    assert s10_check_digit("00000000") == 5  # 11 - 0 = 11 -> 5
    # 8*0+6*0+4*0+2*0+3*0+5*0+9*0+7*3 = 21; 21 % 11 = 10; 11 - 10 = 1
    assert s10_check_digit("00000003") == 1
    # 7*8 = 56; 56 % 11 = 1; 11 - 1 = 10 -> 0
    assert s10_check_digit("00000008") == 0


@pytest.mark.parametrize(
    "number",
    ["EF582621528TH", "EF582621520TH", "EF58262152TH", "EF5826215299TH", "E1582621529TH",
     "EF582621529T", "ef582621529th", "EF582621529T1", "", "EF\uff15\uff18262152\uff19TH",
     "EF 582621529TH"],
)  # fmt: skip
def test_wrong_check_digits_and_shapes_are_not_s10(number):
    assert not s10_valid(number)


def test_an_s10_carrier_normalises_and_refuses():
    post = carrier_get("thailandpost")
    assert post.tracking_check(" ef 5826 2152 9th ") == "EF582621529TH"
    with pytest.raises(Invalid):
        post.tracking_check("EF582621528TH")
    free = carrier_get("kerry")
    assert free.tracking_check("KEX-12/3") == "KEX-12/3"
    for bad in ("", "x" * 41, "a b", "KEX\x00", "\u0e01\u0e02"):
        with pytest.raises(Invalid):
            free.tracking_check(bad)
    assert carrier_get("manual").tracking_check("") == ""
    with pytest.raises(Invalid):
        carrier_get("dhl")
