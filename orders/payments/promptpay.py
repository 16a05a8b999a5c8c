"""PromptPay QR payloads: Thailand's EMVCo merchant-presented QR, which every Thai banking app
scans.

The payload is a run of EMVCo tag-length-value fields ending in a CRC-16/CCITT-FALSE over
everything before it, tag and length of the CRC included. A proxy is a mobile number
(``0066`` + the number without its leading zero), a 13-digit national or tax id, or a
15-digit e-wallet id. With an amount the code is single-use ("dynamic", point of initiation
12); without, reusable (11), and the payer types the amount.
"""

import binascii
import io
import re
from decimal import Decimal

import segno

from server.money import money

_AID = "A000000677010111"  # PromptPay's application id for merchant-presented QR
_THB = "764"  # ISO 4217 numeric


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMVCo field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) as four upper-case hex digits."""
    return f"{binascii.crc_hqx(data.encode('ascii'), 0xFFFF):04X}"


def _proxy_field(proxy: str) -> str:
    digits = re.sub(r"[\s-]", "", proxy)
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("a PromptPay id is digits only")
    if len(digits) == 10 and digits.startswith("0"):
        return _tlv("01", ("66" + digits[1:]).rjust(13, "0"))
    if len(digits) == 13:
        return _tlv("02", digits)
    if len(digits) == 15:
        return _tlv("03", digits)
    raise ValueError("a PromptPay id is a mobile number, a 13-digit id or a 15-digit e-wallet")


def promptpay_payload(*, proxy: str, amount: Decimal | None = None) -> str:
    """The QR text for paying ``proxy``, with ``amount`` in baht when given."""
    fields = [
        _tlv("00", "01"),
        _tlv("01", "12" if amount is not None else "11"),
        _tlv("29", _tlv("00", _AID) + _proxy_field(proxy)),
        _tlv("53", _THB),
    ]
    if amount is not None:
        if amount <= 0:
            raise ValueError("a PromptPay amount is positive")
        fields.append(_tlv("54", str(money(amount))))
    fields.append(_tlv("58", "TH"))
    body = "".join(fields) + "6304"
    return body + crc16(body)


def qr_svg(payload: str) -> bytes:
    """The payload as an SVG QR code, sized for a phone screen and a printed slip alike."""
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="svg", scale=6, border=4)
    return out.getvalue()


def qr_png(payload: str) -> bytes:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=6, border=4)
    return out.getvalue()
