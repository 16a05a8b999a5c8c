"""Account writes: registration, tokens, single-use WebSocket tickets."""

import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from server.accounts import throttle
from server.accounts.models import Role, User, language_supported, validate_username
from server.errors import Conflict, Invalid, NotAuthenticated
from server.redis import redis_client

WS_TICKET_PREFIX = "wsticket:"


def user_register(
    *,
    username: str,
    password: str,
    display_name: str = "",
    role: str = Role.VIEWER,
    address: str | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> User:
    """Create a user with a role. Raises ``RateLimited`` (too many sign-ups from
    ``address``, when given), ``Invalid`` (weak password, unknown role, a display name with
    control characters or passing for someone else) and ``Conflict`` (the username, or a
    look-alike of it, is taken; docs/api.md). ``language``: what the sign-up was made in
    (the request's language), kept for what we write to the user later; unsupported codes
    fall back to ``settings.LANGUAGE_CODE``. ``now``: when they joined (default the clock;
    the demo's past is seeded earlier, as a coupon drop refuses accounts newer than it)."""
    if address is not None:
        throttle.register_check(address=address)
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}.", fields={"role": ["Unknown role."]})
    try:
        validate_username(username)
    except ValidationError as exc:
        raise Invalid(exc.messages[0], fields={"username": exc.messages}) from None
    candidate = User(username=username, display_name=display_name, is_host=role == Role.HOST)
    if now is not None:
        candidate.date_joined = now
    problems = candidate.name_problems()
    if "display_name" in problems:
        raise Invalid(problems["display_name"][0], fields=problems)
    if "username" in problems:
        raise Conflict(problems["username"][0], fields=problems)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise Invalid(exc.messages[0], fields={"password": exc.messages}) from None
    candidate.set_password(password)
    candidate.is_promoter = role == Role.PROMOTER
    candidate.language = language_supported(language) or settings.LANGUAGE_CODE
    try:
        # The unique normal form decides between two racing sign-ups, not the check above.
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise Conflict(
            "That username is taken.", fields={"username": ["That username is taken."]}
        ) from None
    return candidate


def user_authenticate(*, username: str, password: str, address: str) -> User:
    """The user with these credentials, for every login path (API token, login page,
    admin). Raises ``RateLimited`` while ``address`` or ``username`` has failed too often
    (server.accounts.throttle), else ``NotAuthenticated`` on a wrong password."""
    throttle.login_check(address=address, username=username)
    user = authenticate(username=username, password=password)
    if user is None:
        throttle.login_failed(address=address, username=username)
        raise NotAuthenticated("Wrong username or password.")
    return user


def users_create_many(
    *, usernames: list[str], joined: datetime, batch_size: int = 2000
) -> list[tuple[int, str]]:
    """Viewers with tokens and no password, made in two bulk inserts: load tools and tests
    need thousands, and registering one by one costs a password hash each. Names are stored
    in their normal forms like any other; ``joined`` back-dates the accounts (a coupon claim
    needs an account older than the drop). Returns (id, token) in the order given."""
    unusable = make_password(None)
    users = [User(username=name, password=unusable, date_joined=joined) for name in usernames]
    for user in users:
        user.derive_names()
    made = User.objects.bulk_create(users, batch_size=batch_size)
    tokens = Token.objects.bulk_create(
        [Token(key=Token.generate_key(), user=u) for u in made], batch_size=batch_size
    )
    return [(t.user.pk, t.key) for t in tokens]


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
