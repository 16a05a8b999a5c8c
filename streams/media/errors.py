from server.errors import Conflict, Invalid, Unavailable


class NotLive(Conflict):
    """Video is only sent or played while the session is live."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="not_live")


class NotPublishing(Conflict):
    """The session is live but its host is not sending video (yet, or any more)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="not_publishing")


class PublisherExists(Conflict):
    """Someone else publishes this session; the host reconnecting replaces their own."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="publisher_exists")


class BadOffer(Invalid):
    """The SDP offer cannot be used (not SDP, no video, no codec we can send)."""


class UnsupportedMediaType(Invalid):
    """WHIP and WHEP take ``application/sdp`` only (RFC 9725)."""

    @property
    def status(self) -> int:
        return 415


class MediaUnavailable(Unavailable):
    """No media process can take this peer now (none running, or all full)."""
