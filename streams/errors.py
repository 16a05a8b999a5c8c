from server.errors import Conflict, Forbidden, Invalid, RateLimited


class NotSessionHost(Forbidden):
    """Only the session's host (or staff) runs it."""


class SessionEnded(Conflict):
    """An ended session cannot start again or change its showcase."""


class Muted(Forbidden):
    """The host muted this user for the session."""


class ChatRateLimited(RateLimited):
    """Too many messages in a short time."""


class BadShowcase(Invalid):
    """The product is not this farm's, or the numbers do not fit."""
