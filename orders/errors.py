"""Refusals of the order side, each with its public error code."""

from server.errors import DomainError


class CouponNotApplicable(DomainError):
    """The coupon's scope, currency or minimum spend does not fit the order."""

    code = "coupon_not_applicable"
