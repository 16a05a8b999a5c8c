"""Refusals of the order side, each with its public error code."""

from server.errors import Conflict, DomainError, Invalid


class CouponNotApplicable(DomainError):
    """The coupon's scope, currency or minimum spend does not fit the order."""

    code = "coupon_not_applicable"


class OutOfStock(DomainError):
    """Fewer units are left than the line asks for."""

    code = "out_of_stock"


class ClaimExpired(DomainError):
    """The coupon's time to use it has passed, or it was given back."""

    code = "claim_expired"


class DealLimitReached(DomainError):
    """A flash deal's per-buyer limit: this buyer's live orders already hold that many."""

    code = "limit_reached"


class NotCancellable(Conflict):
    """The order has shipped, or is already cancelled."""


class KeyReused(Invalid):
    """An ``Idempotency-Key`` sent again with a different request (Stripe answers 422)."""

    @property
    def status(self) -> int:
        return 422


class LeaseLost(Conflict):
    """A retry took this request's idempotency lease over: the retry's write wins."""
