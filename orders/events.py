"""Order broadcasts on the live channel (docs/protocol.md); ``stock`` is streams' event."""

from pydantic import Field

from server.publisher import Event


class OrderTicker(Event):
    """Someone just bought: social proof for the room, with the buyer's name masked."""

    type = "order.ticker"
    buyer: str
    product: int
    qty: int = Field(ge=1)


def mask(name: str) -> str:
    """``Somchai`` -> ``S***i``: enough to feel real, too little to identify anyone."""
    name = name.strip()
    if len(name) <= 3:
        return (name[:1] or "*") + "***"
    return f"{name[0]}***{name[-1]}"
