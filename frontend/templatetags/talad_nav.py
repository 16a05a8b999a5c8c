"""The site's navigation, by role: each person sees the pages that are theirs."""

from typing import Any
from urllib.parse import urlencode

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

# (path, label, who sees it). Paths, not URL names: some of these pages live in other
# parts of the site that may not be mounted in every deployment.
LINKS = (
    ("/", _("Home"), "anyone"),
    ("/me/orders/", _("My orders"), "viewer"),
    ("/me/coupons/", _("My coupons"), "viewer"),
    ("/desk/", _("Seller desk"), "host"),
    ("/studio/", _("Studio"), "host"),
    ("/promote/", _("Promote"), "promoter"),
)


@register.simple_tag(takes_context=True)
def nav_links(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Links for the signed-in user's roles, with the one for the current page marked."""
    request = context.get("request")
    user = getattr(request, "user", None)
    roles = {"anyone"}
    if user is not None and user.is_authenticated:
        roles.update(user.roles)
        if user.is_staff:
            roles.update({"host", "promoter"})
    path = request.path if request is not None else ""
    links = []
    for href, label, who in LINKS:
        if who not in roles:
            continue
        current = path == href if href == "/" else path.startswith(href)
        links.append({"href": href, "label": label, "current": current})
    return links


@register.simple_tag(takes_context=True)
def back_here(context: dict[str, Any]) -> str:
    """``?next=<this page>`` for the log-in and sign-up links, so people come back to where
    they were; nothing on those two pages themselves (they keep their own ``next``)."""
    request = context.get("request")
    if request is None:
        return ""
    match = request.resolver_match
    if match is not None and match.url_name in ("login", "register"):
        return ""
    return "?" + urlencode({"next": request.get_full_path()})
