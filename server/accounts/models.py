"""Users and their roles. Every user can watch and buy; hosts sell, promoters fund coupons."""

import unicodedata

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from server.accounts.names import (
    display_name_normal,
    mixes_lookalike_scripts,
    skeleton,
    username_key,
)

USERNAME_PUNCTUATION = frozenset("._@+-")


def validate_username(value: str) -> None:
    """Letters and digits of any script, with their combining marks (Thai vowels and tone
    marks are marks, not letters), plus ``._@+-``, at least one letter or digit; no spaces or
    symbols; and not Latin,
    Cyrillic and Greek letters mixed (``paypal`` with a Cyrillic ``a``, U+0430)."""
    for char in value:
        if char in USERNAME_PUNCTUATION or char.isalnum():
            continue
        if unicodedata.category(char).startswith("M"):
            continue
        raise ValidationError(
            _("Usernames may contain letters, digits and . _ @ + - only."), code="invalid"
        )
    if not any(char.isalnum() for char in value):
        raise ValidationError(_("Usernames need a letter or a digit."), code="invalid")
    if mixes_lookalike_scripts(value):
        raise ValidationError(
            _("Use one alphabet for the letters: Latin, Cyrillic or Greek."), code="invalid"
        )


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    HOST = "host", _("Host (farmer)")
    PROMOTER = "promoter", _("Promoter")


def default_language() -> str:
    return settings.LANGUAGE_CODE


def language_supported(code: str | None) -> str | None:
    """``code`` as one of ``settings.LANGUAGES`` (``zh-Hans`` -> ``zh-hans``), else None."""
    code = (code or "").lower()
    return code if code in dict(settings.LANGUAGES) else None


class CaseInsensitiveUserManager(UserManager):
    """Log in as ``Somchai``, ``somchai`` or a full-width ``SOMCHAI`` alike: every login path (the
    API, the login page, the admin, Django's ModelBackend) finds the user by this one
    lookup, on the unique normal form (server.accounts.names)."""

    def get_by_natural_key(self, username: str) -> "User":
        return self.get(username_key=username_key(username))


class User(AbstractUser):
    username = models.CharField(
        _("username"), max_length=150, unique=True, validators=[validate_username]
    )
    # Derived from username and display_name on every save (server.accounts.names).
    username_key = models.TextField(unique=True, editable=False)
    username_skeleton = models.TextField(unique=True, editable=False)
    display_skeleton = models.TextField(db_index=True, editable=False, blank=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    is_host = models.BooleanField(_("host"), default=False)
    is_promoter = models.BooleanField(_("promoter"), default=False)
    # What we write to them in (notifications); one of settings.LANGUAGES.
    language = models.CharField(_("language"), max_length=10, default=default_language)

    objects = CaseInsensitiveUserManager()

    def __str__(self) -> str:
        return self.display_name or self.username

    def derive_names(self) -> None:
        """Fill the stored normal forms from the names as typed. A form the backfill parked
        as ``<form>#<id>`` (a legacy look-alike, docs/operations.md) stays parked until the
        username itself changes, so saving such a row for another reason cannot fail."""
        self.display_name = display_name_normal(self.display_name)
        for field, value in (
            ("username_key", username_key(self.username)),
            ("username_skeleton", skeleton(self.username)),
        ):
            if getattr(self, field).partition("#")[0] != value:
                setattr(self, field, value)
        self.display_skeleton = skeleton(self.display_name)

    def name_problems(self) -> dict[str, list[str]]:
        """Why these names may not stand beside the others (one query per name).

        A username may not read like another user's username or a host's display name; a
        display name may not read like another user's username or a host's display name
        (a host's, like anyone's), so nobody passes for a verified host in chat.
        """
        try:
            self.derive_names()
        except ValueError:
            return {"display_name": [str(_("Display names may not hold control characters."))]}
        problems: dict[str, list[str]] = {}
        if len(self.display_name) > 100:
            problems["display_name"] = [str(_("Display names are at most 100 characters."))]
        if len(self.username_key) > 150:
            problems["username"] = [str(_("Usernames are at most 150 characters."))]
            return problems
        others = User.objects.exclude(pk=self.pk) if self.pk else User.objects.all()
        if others.filter(
            Q(username_skeleton=self.username_skeleton)
            | Q(is_host=True, display_skeleton=self.username_skeleton)
        ).exists():
            problems["username"] = [str(_("That username is taken."))]
        if self.display_skeleton:
            display_owners = Q() if self.is_host else Q(is_host=True)
            if others.filter(
                Q(username_skeleton=self.display_skeleton)
                | (display_owners & Q(display_skeleton=self.display_skeleton))
            ).exists():
                problems["display_name"] = [
                    str(_("That display name is too close to another user's name."))
                ]
        return problems

    def clean(self) -> None:
        super().clean()
        if problems := self.name_problems():
            raise ValidationError(problems)

    def save(self, *args: object, **kwargs: object) -> None:
        self.derive_names()
        super().save(*args, **kwargs)

    @property
    def roles(self) -> list[str]:
        roles = [Role.VIEWER.value]
        if self.is_host:
            roles.append(Role.HOST.value)
        if self.is_promoter:
            roles.append(Role.PROMOTER.value)
        if self.is_staff:
            roles.append("staff")
        return roles
