"""Thailand Post (EMS and registered mail): S10 numbers, scans reported by webhook.

The body follows the items of Thailand Post's track-and-trace webhook: ``barcode``, a numeric
``status`` code, ``status_date`` (ISO 8601, or the Thai-calendar ``dd/mm/yyyy HH:MM:SS+07:00``
its API writes), ``location`` and ``status_description``. The request is signed the Standard
Webhooks way (``orders.payments.signing``), as payment providers' are: a relay in front of the
carrier's own token signs it with our secret.
"""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from orders.carriers.base import Carrier, Scan
from server.errors import Invalid

# Thailand Post's status codes, by the kind of scan they are. Codes not here (101 "preparing
# to post", 901 "COD money paid to the seller") are not part of the parcel's journey.
KINDS = {
    "102": "picked_up", "103": "picked_up",
    "201": "in_transit", "202": "in_transit", "204": "in_transit", "205": "in_transit",
    "206": "in_transit", "207": "in_transit", "208": "in_transit",
    "203": "returned",
    "301": "out_for_delivery", "302": "out_for_delivery",
    "401": "failed_attempt",
    "501": "delivered",
}  # fmt: skip
BUDDHIST_ERA = 543
_THAI_DATE = re.compile(
    r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})([+-]\d{2}:\d{2})$", re.ASCII
)
_Text = Annotated[str, StringConstraints(max_length=300)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    barcode: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,40}$")]
    status: Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
    status_date: Annotated[str, StringConstraints(max_length=40)]
    location: _Text = ""
    status_description: _Text = ""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: Annotated[list[_Item], Field(max_length=100)]


def _when(text: str) -> datetime:
    match = _THAI_DATE.match(text)
    if match:
        day, month, year, hh, mm, ss, tz = match.groups()
        text = f"{int(year) - BUDDHIST_ERA:04d}-{month}-{day}T{hh}:{mm}:{ss}{tz}"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"Unreadable status_date {text[:40]!r}.") from None
    if at.tzinfo is None:
        raise Invalid("A status_date carries its offset (e.g. +07:00).")
    return at


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip()


class ThailandPost(Carrier):
    def webhook_scans(self, payload: dict[str, Any]) -> list[Scan]:
        try:
            body = _Body.model_validate(payload)
        except ValidationError:
            raise Invalid("The webhook's body is not Thailand Post's items.") from None
        scans = []
        for item in body.items:
            kind = KINDS.get(item.status)
            if kind is None:
                continue
            at = _when(item.status_date)
            scans.append(
                Scan(
                    tracking_number=item.barcode.upper(), kind=kind, at=at,
                    location=_clean(item.location)[:200], note=_clean(item.status_description),
                    external_id=f"{item.status}@{at.isoformat()}",
                )
            )  # fmt: skip
        return scans
