"""Account writes: registration, tokens, single-use WebSocket tickets."""

import secrets

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from server.accounts.models import Role, User
from server.errors import Conflict, Invalid, NotAuthenticated
from server.redis import redis_client

WS_TICKET_PREFIX = "wsticket:"


def user_register(
    *, username: str, password: str, display_name: str = "", role: str = Role.VIEWER
) -> User:
    """Create a user with a role. Raises ``Invalid`` (weak password, unknown role) and
    ``Conflict`` (username taken, in any letter case)."""
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}.", fields={"role": ["Unknown role."]})
    candidate = User(username=username, display_name=display_name)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise Invalid(exc.messages[0], fields={"password": exc.messages}) from None
    candidate.set_password(password)
    candidate.is_host = role == Role.HOST
    candidate.is_promoter = role == Role.PROMOTER
    try:
        # The case-insensitive unique constraint decides, not a check-then-insert.
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise Conflict(
            "That username is taken.", fields={"username": ["That username is taken."]}
        ) from None
    return candidate


def user_authenticate(*, username: str, password: str) -> User:
    """The user with these credentials. Raises ``NotAuthenticated``."""
    user = authenticate(username=username, password=password)
    if user is None:
        raise NotAuthenticated("Wrong username or password.")
    return user


def token_get_or_create(*, user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def ws_ticket_issue(*, user: User, ttl_s: int) -> str:
    """A single-use ticket for ``?ticket=`` on a WebSocket URL, so a long-lived token
    never lands in a URL (and so in proxy and server logs)."""
    ticket = secrets.token_urlsafe(24)
    redis_client().set(f"{WS_TICKET_PREFIX}{ticket}", user.pk, ex=ttl_s)
    return ticket


def ws_ticket_redeem(*, ticket: str) -> int | None:
    """The user id a ticket was issued for, once; ``None`` when unknown, used or expired."""
    if not ticket or len(ticket) > 64:
        return None
    value = redis_client().getdel(f"{WS_TICKET_PREFIX}{ticket}")
    return int(value) if value is not None else None
