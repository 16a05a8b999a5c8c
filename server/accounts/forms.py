"""The login and sign-up forms of our pages (and the admin's login), on the same services as
the API's."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from server.accounts import services
from server.accounts.models import Role, User
from server.clientaddr import client_address
from server.errors import Conflict, Invalid, NotAuthenticated, RateLimited, service_error


class _Refusals:
    """What a form tells its view when the service refused for a while: ``retry_after_s``
    and ``status_code`` (429, or 503 while Redis is unreachable; server.accounts.views)."""

    retry_after_s: int | None = None
    status_code = 429

    def unavailable(self, exc: Exception, message: str) -> forms.ValidationError:
        """The page's sentence for a dependency that is down or too slow, never a 500;
        ``exc`` itself when it is no such failure (a bug), for the caller to see."""
        refusal = service_error(exc)
        if refusal is None:
            raise exc
        self.retry_after_s = int(refusal.extra["retry_after_s"])
        self.status_code = refusal.status
        return forms.ValidationError(message, code="unavailable")


class ThrottledLoginMixin(_Refusals):
    """``clean`` through ``services.user_authenticate``: the normalized lookup, the
    per-address and per-username failure limits."""

    def clean(self) -> dict[str, Any]:
        form: Any = self
        username = form.cleaned_data.get("username")
        password = form.cleaned_data.get("password")
        if username is None or not password:
            return form.cleaned_data
        try:
            form.user_cache = services.user_authenticate(
                username=username, password=password, address=client_address(form.request.META)
            )
        except RateLimited as exc:
            self.retry_after_s = int(exc.extra["retry_after_s"])
            raise forms.ValidationError(
                _("Too many failed logins. Please wait %(minutes)s min and try again."),
                code="rate_limited",
                params={"minutes": max(1, round(exc.extra["retry_after_s"] / 60))},
            ) from None
        except NotAuthenticated:
            raise form.get_invalid_login_error() from None
        except Exception as exc:
            # Redis (the failure counts) down or too slow: the page says so, not a 500.
            raise self.unavailable(
                exc, _("Logging in is briefly unavailable. Please try again in a few seconds.")
            ) from None
        form.confirm_login_allowed(form.user_cache)
        return form.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class RegisterForm(_Refusals, forms.Form):
    """Sign-up on our pages through ``services.user_register``, the API's service: the same
    name rules, password rules and per-address sign-up limit."""

    username = forms.CharField(label=_("Username"), max_length=150)
    display_name = forms.CharField(label=_("Display name"), max_length=100, required=False)
    password = forms.CharField(label=_("Password"), max_length=128, strip=False)
    role = forms.ChoiceField(label=_("I am here to"), choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args: Any, request: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        if self.errors:
            return data
        try:
            self.user = services.user_register(
                username=data["username"],
                password=data["password"],
                display_name=data.get("display_name", ""),
                role=data["role"],
                address=client_address(self.request.META),
            )
        except RateLimited as exc:
            self.retry_after_s = int(exc.extra["retry_after_s"])
            raise forms.ValidationError(
                _("Too many sign-ups from your network. Please try again later."),
                code="rate_limited",
            ) from None
        except (Invalid, Conflict) as exc:
            fields = exc.extra.get("fields") or {}
            for name, messages in fields.items():
                self.add_error(name if name in self.fields else None, list(messages))
            if not fields:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        except Exception as exc:
            raise self.unavailable(
                exc, _("Signing up is briefly unavailable. Please try again in a few seconds.")
            ) from None
        return data
