"""How a message reaches a user: pluggable channels (email now; LINE or SMS join by
registering a ``Channel`` in their app's ``AppConfig.ready``), chosen by
``settings.NOTIFICATION_CHANNELS``.

A channel says where it would reach a user (``address``; None when it cannot: no email
address, no linked LINE account) and sends one message. What to say, to whom and when is
decided above it (``orders.notifications``); retries too.
"""

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage

from server.accounts.models import User


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str
    language: str
    # Stable per notification, so a message sent twice (a retry after a crash) can be
    # recognised as one by the receiving side.
    ref: str


class Channel(Protocol):
    name: str

    def address(self, user: User) -> str | None: ...

    def send(self, *, address: str, message: Message) -> None: ...


class EmailChannel:
    """Django's email backend (``EMAIL_BACKEND``: SMTP in production, console in development,
    locmem in tests)."""

    name = "email"

    def address(self, user: User) -> str | None:
        return user.email or None

    def send(self, *, address: str, message: Message) -> None:
        domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "talad.invalid"
        EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={
                "Content-Language": message.language,
                "Message-ID": f"<{message.ref}@{domain}>",
            },
        ).send(fail_silently=False)


channels: dict[str, Channel] = {}


def channel_register(channel: Channel) -> None:
    channels[channel.name] = channel


def channels_enabled() -> list[Channel]:
    """The configured channels that are registered, in the configured order."""
    return [channels[name] for name in settings.NOTIFICATION_CHANNELS if name in channels]


channel_register(EmailChannel())
