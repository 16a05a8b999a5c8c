"""What every carrier adapter is: a code, a name, how its tracking numbers look, and (for
carriers that report scans to us) how to read their webhook."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from orders.carriers.s10 import s10_valid
from server.errors import Invalid

MAX_TRACKING = 40
# Printable, no spaces inside (a number is copied from a label): letters, digits, - . /
_FREE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./-]*$")


@dataclass(frozen=True)
class Scan:
    """One tracking event a carrier's webhook reports, read into our terms."""

    tracking_number: str
    kind: str
    at: datetime
    location: str
    note: str
    external_id: str


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    tracking: Literal["s10", "free"] = "free"
    webhook: bool = False
    # The manual carrier's number may be empty (the farm delivers itself).
    number_required: bool = True

    def tracking_check(self, number: str) -> str:
        """The number as stored (trimmed, S10 upper-cased); raises ``Invalid``."""
        number = "".join(number.split()) if self.tracking == "s10" else number.strip()
        if self.tracking == "s10":
            number = number.upper()
            if not s10_valid(number):
                raise Invalid(
                    f"{number[:MAX_TRACKING]!r} is not a {self.name} tracking number "
                    "(two letters, nine digits, two letters, e.g. EF582621529TH).",
                    fields={"tracking_number": ["Not an S10 number, or its check digit is wrong."]},
                )
            return number
        if not number and not self.number_required:
            return ""
        if not number or len(number) > MAX_TRACKING or not _FREE.match(number):
            raise Invalid(
                f"A tracking number is 1 to {MAX_TRACKING} letters, digits, '-', '.' or '/'.",
                fields={"tracking_number": ["Bad tracking number."]},
            )
        return number

    def webhook_scans(self, payload: dict[str, Any]) -> list[Scan]:
        """The scans a verified webhook body reports; raises ``Invalid`` for one we cannot
        read. Only carriers with ``webhook`` read any."""
        raise Invalid(f"{self.name} sends no webhooks.")

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "tracking": self.tracking,
                "webhook": self.webhook}  # fmt: skip
