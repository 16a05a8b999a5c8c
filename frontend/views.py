"""Pages. The home page shows what is live, coming and just ended, and where the goods come
from."""

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.models import Farm, Product
from streams.models import SessionStatus
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
