"""The login form of our pages and of the admin, on the same service as the API's."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from server.accounts import services
from server.clientaddr import client_address
from server.errors import NotAuthenticated, RateLimited, service_error


class ThrottledLoginMixin:
    """``clean`` through ``services.user_authenticate``: the normalized lookup, the
    per-address and per-username failure limits. ``retry_after_s`` tells the view to
    answer ``status_code`` (429, or 503 while Redis is unreachable; server.accounts.views)."""

    retry_after_s: int | None = None
    status_code = 429

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
            unavailable = service_error(exc)
            if unavailable is None:
                raise
            self.retry_after_s = int(unavailable.extra["retry_after_s"])
            self.status_code = unavailable.status
            raise forms.ValidationError(
                _("Logging in is briefly unavailable. Please try again in a few seconds."),
                code="unavailable",
            ) from None
        form.confirm_login_allowed(form.user_cache)
        return form.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
