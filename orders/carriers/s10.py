"""UPU S10 item identifiers (EF582621529TH): two letters, eight digits, a check digit and
the issuing post's country code. The check digit catches a mistyped number before a parcel
is lost to it."""

import re

_SHAPE = re.compile(r"^([A-Z]{2})([0-9]{8})([0-9])([A-Z]{2})$")
_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The check digit of an eight-digit serial number (UPU S10, 11 minus the weighted sum
    modulo 11; 10 is written 0 and 11 is written 5)."""
    check = 11 - sum(int(d) * w for d, w in zip(serial, _WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_valid(number: str) -> bool:
    """Is ``number`` (upper case, no spaces) a well-formed S10 identifier?"""
    match = _SHAPE.match(number)
    return bool(match) and s10_check_digit(match.group(2)) == int(match.group(3))
