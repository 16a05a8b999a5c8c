"""Pages. The home page shows what is live, coming and just ended, and where the goods come
from; the host's studio, the promoter's console and sign-up are here too. Pages read through
selectors and write through the REST API (their ES modules), never around it."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from catalog.models import Currency, Farm, Product
from coupons.models import DiscountKind
from server.accounts.forms import RegisterForm
from server.accounts.models import Role
from streams.models import LiveSession, SessionStatus
from streams.selectors import session_list


def home(request: HttpRequest) -> HttpResponse:
    sessions = session_list()
    live = sessions.filter(status=SessionStatus.LIVE)[:12]
    upcoming = sessions.filter(status=SessionStatus.SCHEDULED)[:12]
    # Ended lives still sell from their page (the showcase at catalogue prices).
    ended = sessions.filter(status=SessionStatus.ENDED).order_by("-ended_at", "-id")[:6]
    farms = Farm.objects.annotate(
        product_count=Count("products", filter=Q(products__is_active=True))
    )[:24]
    products = Product.objects.filter(is_active=True).select_related("farm")[:24]
    return render(
        request,
        "frontend/home.html",
        {
            "live": live,
            "upcoming": upcoming,
            "ended": ended,
            "farms": farms,
            "products": products,
        },
    )


def denied(request: HttpRequest, message: str) -> HttpResponse:
    """A page saying who may open it, as 403: people land here from shared links."""
    return render(request, "frontend/denied.html", {"message": message}, status=403)


@login_required
def studio_index(request: HttpRequest) -> HttpResponse:
    """The host's sessions to open a studio for: live ones first, then the soonest."""
    user = request.user
    if not (user.is_host or user.is_staff):
        return denied(request, _("The studio is for hosts: farmers who sell live."))
    sessions = session_list().filter(host=user).exclude(status=SessionStatus.ENDED)[:50]
    return render(request, "frontend/studio_index.html", {"sessions": sessions})


@login_required
def studio(request: HttpRequest, session_id: int) -> HttpResponse:
    """Only the session's host (or staff) runs its studio; everyone else is told so."""
    session = get_object_or_404(LiveSession.objects.select_related("farm"), pk=session_id)
    if not (request.user.is_staff or session.host_id == request.user.pk):
        return denied(request, _("Only this session's host can open its studio."))
    products = Product.objects.filter(farm=session.farm, is_active=True).order_by("name")
    return render(
        request,
        "frontend/studio.html",
        {"session": session, "session_id": session.pk, "products": products},
    )


@login_required
def promote(request: HttpRequest) -> HttpResponse:
    """The campaign console: promoters fund campaigns anywhere, hosts their own farm's
    vouchers (``funded_by: farm``), so both may open it."""
    user = request.user
    if not (user.is_promoter or user.is_host or user.is_staff):
        return denied(request, _("The campaign console is for promoters and hosts."))
    farms = Farm.objects.order_by("name")
    if not (user.is_promoter or user.is_staff):
        farms = farms.filter(owner=user)
    farms = list(farms[:200])
    products = Product.objects.filter(farm__in=farms, is_active=True).select_related("farm")
    sessions = (
        LiveSession.objects.filter(farm__in=farms)
        .exclude(status=SessionStatus.ENDED)
        .order_by("scheduled_at", "id")
    )
    return render(
        request,
        "frontend/promote.html",
        {
            "farms": farms,
            "products": products.order_by("farm__name", "name")[:500],
            "sessions": sessions[:200],
            "funds_as_promoter": user.is_promoter or user.is_staff,
            "kinds": DiscountKind.choices,
            "currencies": Currency.choices,
        },
    )


def _safe_next(request: HttpRequest) -> str:
    """``next`` only when it points back into this site (no open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _landing(role: str) -> str:
    return {Role.HOST: "/studio/", Role.PROMOTER: "/promote/"}.get(role, "/")


def register(request: HttpRequest) -> HttpResponse:
    """Sign up as a viewer, host or promoter, then go on to where you were (``next``) or to
    the page your role starts from. Throttled like the login page (server.accounts.views)."""
    target = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(target or "/")
    form = RegisterForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid() and form.user is not None:
        login(request, form.user)
        return redirect(target or _landing(form.cleaned_data["role"]))
    return TemplateResponse(request, "frontend/register.html", {"form": form, "next": target})
