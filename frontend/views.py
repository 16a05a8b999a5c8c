"""Pages. The home page shows what is live and coming, and where the goods come from."""

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.models import Farm, Product
from streams.models import SessionStatus
from streams.selectors import session_list


def home(request: HttpRequest) -> HttpResponse:
    sessions = session_list().exclude(status=SessionStatus.ENDED)[:12]
    farms = Farm.objects.annotate(
        product_count=Count("products", filter=Q(products__is_active=True))
    )[:24]
    products = Product.objects.filter(is_active=True).select_related("farm")[:24]
    return render(
        request,
        "frontend/home.html",
        {"sessions": sessions, "farms": farms, "products": products},
    )
