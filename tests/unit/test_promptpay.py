"""PromptPay QR payloads against the published vector and the EMVCo layout."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.payments.promptpay import crc16, promptpay_payload, qr_png, qr_svg


def test_published_vector_mobile_number_without_amount():
    assert (
        promptpay_payload(proxy="0812345678")
        == "00020101021129370016A0000006770101110113006681234567853037645802TH6304823E"
    )


def test_with_an_amount_the_code_is_single_use_and_carries_the_amount():
    payload = promptpay_payload(proxy="081-234-5678", amount=Decimal("1234.5"))
    assert payload.startswith("000201010212")
    assert "54071234.50" in payload
    assert payload[-4:] == crc16(payload[:-4])


def test_national_id_and_ewallet_proxies():
    assert "02131234567890123" in promptpay_payload(proxy="1234567890123")
    assert "0315123456789012345" in promptpay_payload(proxy="123456789012345")


@pytest.mark.parametrize("proxy", ["", "12345", "08123456789", "๐๘๑๒๓๔๕๖๗๘", "0812345678\x00"])
def test_bad_proxies_are_refused(proxy):
    with pytest.raises(ValueError):
        promptpay_payload(proxy=proxy)


def test_zero_or_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        promptpay_payload(proxy="0812345678", amount=Decimal("0"))


@given(amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2))
def test_every_payload_is_well_formed_tlv_with_a_valid_crc(amount):
    payload = promptpay_payload(proxy="0812345678", amount=amount)
    pos, tags = 0, []
    while pos < len(payload):
        tag, size = payload[pos : pos + 2], int(payload[pos + 2 : pos + 4])
        tags.append(tag)
        pos += 4 + size
    assert pos == len(payload)
    assert tags == ["00", "01", "29", "53", "54", "58", "63"]
    assert payload[-4:] == crc16(payload[:-4])
    assert re.fullmatch(r"[0-9A-F]{4}", payload[-4:])


def test_qr_images_render():
    payload = promptpay_payload(proxy="0812345678", amount=Decimal("99"))
    assert qr_png(payload).startswith(b"\x89PNG")
    assert b"<svg" in qr_svg(payload)
