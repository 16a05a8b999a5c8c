"""Refusals of the coupon side, each with its contract code."""

from server.errors import Conflict, DomainError, Forbidden, Invalid


class DropClosed(DomainError):
    code = "drop_closed"


class SoldOut(DomainError):
    code = "sold_out"


class AlreadyClaimed(DomainError):
    code = "already_claimed"


class LimitReached(DomainError):
    code = "limit_reached"


class NotCampaignOwner(Forbidden):
    """Only the campaign's promoter (or staff) manages it."""


class NotAllowedToDrop(Forbidden):
    """Only who opened a drop, or its campaign's owner, cancels it."""


class AccountTooNew(Forbidden):
    """Accounts made after the drop opened cannot claim (bot farms gain nothing)."""


class GateRestoring(Conflict):
    """The drop's counter is being rebuilt after a Redis restart; try again shortly."""


class BadCampaign(Invalid):
    pass
