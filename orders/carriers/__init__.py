"""Carriers, one adapter each, in one registry: ``GET /api/carriers/`` lists it, shipping
checks a tracking number against its carrier, and a carrier's webhook is read by its own.

- ``manual``: the farm delivers itself or uses a courier we do not track; its number is
  free-form (or none) and the farm enters each scan by hand.
- S10 carriers (UPU item ids with a check digit): ``thailandpost`` reports scans by signed
  webhook; ``chinapost`` numbers are checked, scans entered by hand.
- Other couriers: free-form numbers, scans by hand.
"""

from orders.carriers.base import Carrier, Scan
from orders.carriers.thailandpost import ThailandPost
from server.errors import Invalid

CARRIERS: dict[str, Carrier] = {
    c.code: c
    for c in (
        Carrier(code="manual", name="Own delivery / other", number_required=False),
        ThailandPost(code="thailandpost", name="Thailand Post", tracking="s10", webhook=True),
        Carrier(code="chinapost", name="China Post", tracking="s10"),
        Carrier(code="kerry", name="Kerry Express"),
        Carrier(code="flash", name="Flash Express"),
    )
}


def carrier_get(code: str) -> Carrier:
    """Raises ``Invalid`` for a carrier we do not know."""
    carrier = CARRIERS.get(code)
    if carrier is None:
        raise Invalid(f"Unknown carrier; one of {', '.join(CARRIERS)}.",
                      fields={"carrier": sorted(CARRIERS)})  # fmt: skip
    return carrier


__all__ = ["CARRIERS", "Carrier", "Scan", "carrier_get"]
