"""Money: Decimal end to end, shown with two places, never a float."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import PlainSerializer

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """Round to the cent the way a till does (half up), from whatever exact input."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# A Decimal field of an event or message, written as "12.30" on the wire.
Money = Annotated[Decimal, PlainSerializer(lambda d: str(money(d)), return_type=str)]
