"""Users and their roles. Every user can watch and buy; hosts sell, promoters fund coupons."""

import unicodedata

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

USERNAME_PUNCTUATION = frozenset("._@+-")


def validate_username(value: str) -> None:
    """Letters and digits of any script, with their combining marks (Thai vowels and tone
    marks are marks, not letters), plus ``._@+-``; no spaces or symbols."""
    for char in value:
        if char in USERNAME_PUNCTUATION or char.isalnum():
            continue
        if unicodedata.category(char).startswith("M"):
            continue
        raise ValidationError(
            _("Usernames may contain letters, digits and . _ @ + - only."), code="invalid"
        )


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    HOST = "host", _("Host (farmer)")
    PROMOTER = "promoter", _("Promoter")


class CaseInsensitiveUserManager(UserManager):
    """Log in as ``Somchai`` or ``somchai`` alike; the constraint below keeps them one."""

    def get_by_natural_key(self, username: str) -> "User":
        return self.get(username__iexact=username)


class User(AbstractUser):
    username = models.CharField(
        _("username"), max_length=150, unique=True, validators=[validate_username]
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    is_host = models.BooleanField(_("host"), default=False)
    is_promoter = models.BooleanField(_("promoter"), default=False)

    objects = CaseInsensitiveUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

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
