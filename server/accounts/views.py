"""Login pages (ours and the admin's): a throttled login answers 429 with the form."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def throttled_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a login view whose form is a ``ThrottledLoginMixin``: the page with its error
    message, as 429 (or 503) with ``Retry-After``, so tools and proxies see the refusal too."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (
            response.context_data.get("form")
            if isinstance(response, TemplateResponse) and response.context_data
            else None
        )
        retry_after_s = getattr(form, "retry_after_s", None)
        if retry_after_s is not None:
            response.status_code = form.status_code
            response["Retry-After"] = str(retry_after_s)
        return response

    return wrapped
