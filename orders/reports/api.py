"""Reports over HTTP: a session's post-live report, a farm's payouts, household impact.
``?format=csv`` gives the report or the payouts as CSV."""

import hashlib
import unicodedata
from datetime import date
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Currency
from orders.reports.impact import impact_report
from orders.reports.payouts import farm_for_payouts, farm_payouts, payout_rows
from orders.reports.schema import CSV, FARM_PAYOUTS, FORMAT, IMPACT, SESSION_REPORT
from orders.reports.sessions import session_for_report, session_report, session_report_rows
from server.api import SettingsRateThrottle
from server.errors import Invalid
from server.periods import DAY_OR_MONTH, display_zone, month_end, query_date
from server.spreadsheet import csv_response

IMPACT_CACHE_S = 300
MAX_PERIOD_DAYS = 3 * 366


class CSVRenderer(BaseRenderer):
    """Lets ``?format=csv`` through DRF's negotiation; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        # Only errors reach here (a view answers CSV with its own response): as JSON text.
        return JSONRenderer().render(data)


def _wants_csv(request: Request) -> bool:
    return request.accepted_renderer.format == "csv"


class CSVOrJSONView(APIView):
    """A report that answers ``?format=csv`` (or ``Accept: text/csv``) as CSV. A refusal is
    JSON in the contract's error shape either way: a client asking for CSV still reads
    why it was refused, and a spreadsheet never opens an error as data."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


def _period(request: Request, *, default_start: date, default_end: date) -> tuple[date, date]:
    start = query_date(request.query_params.get("from"), "from") or default_start
    end = query_date(request.query_params.get("to"), "to", end=True) or default_end
    if end < start:
        raise Invalid("to is before from.", fields={"to": ["Before from."]})
    if (end - start).days > MAX_PERIOD_DAYS:
        raise Invalid("At most three years at once.", fields={"to": ["Too long a period."]})
    return start, end


class SessionReportView(CSVOrJSONView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="A session's post-live report",
        description="For the session's host, staff, and promoters who dropped coupons in it "
        "(`money` is null for them). Anyone else: 404.",
        parameters=[FORMAT],
        responses={(200, "application/json"): SESSION_REPORT, (200, "text/csv"): CSV},
        tags=["reports"],
    )
    def get(self, request: Request, session_id: int) -> Any:
        session, standing = session_for_report(session_id=session_id, user=request.user)
        report = session_report(session=session, now=timezone.now(), standing=standing)
        if _wants_csv(request):
            return csv_response(session_report_rows(report), f"session-{session.pk}-report.csv")
        return Response(report)


class FarmPayoutsView(CSVOrJSONView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="A farm's payout statement",
        description="Orders settled in the period (days inclusive, at most three years; "
        "default this month) and what the farm is owed. The farm's owner and staff only.",
        parameters=[
            OpenApiParameter("from", str, description=DAY_OR_MONTH),
            OpenApiParameter("to", str, description=DAY_OR_MONTH),
            FORMAT,
        ],
        responses={(200, "application/json"): FARM_PAYOUTS, (200, "text/csv"): CSV},
        tags=["reports"],
    )
    def get(self, request: Request, farm_id: int) -> Any:
        farm = farm_for_payouts(farm_id=farm_id, user=request.user)
        today = timezone.localdate(timezone=display_zone())
        start, end = _period(request, default_start=today.replace(day=1), default_end=today)
        statement = farm_payouts(farm=farm, start=start, end=end)
        if _wants_csv(request):
            name = f"farm-{farm.pk}-payouts-{start.isoformat()}-{end.isoformat()}.csv"
            return csv_response(payout_rows(statement), name)
        return Response(statement)


class ImpactThrottle(SettingsRateThrottle):
    scope = "impact"


def impact_params(query: Any) -> dict[str, Any]:
    """The impact query, checked: whole months (a small key space for the cache), at most
    three years, a province name of at most 100 printable characters, a known currency.
    Raises ``Invalid``."""
    today = timezone.localdate(timezone=display_zone())
    this_month = today.replace(day=1)
    start = query_date(query.get("from"), "from") or date(this_month.year - 1, this_month.month, 1)
    end = query_date(query.get("to"), "to", end=True) or month_end(this_month)
    start, end = start.replace(day=1), month_end(end.replace(day=1))
    if end < start:
        raise Invalid("to is before from.", fields={"to": ["Before from."]})
    if (end - start).days > MAX_PERIOD_DAYS:
        raise Invalid("At most three years at once.", fields={"to": ["Too long a period."]})
    # NFKC: full-width or composed look-alikes typed on a phone find the province they
    # spell; a name that only looks like one (another script) finds nothing.
    province = unicodedata.normalize("NFKC", (query.get("province") or "")[:200]).strip()
    if len(province) > 100 or not province.isprintable():
        raise Invalid("Not a province name.", fields={"province": ["Not a province name."]})
    currency = query.get("currency") or Currency.THB
    if currency not in Currency.values:
        raise Invalid("Unknown currency.", fields={"currency": sorted(Currency.values)})
    return {"start": start, "end": end, "province": province or None, "currency": currency}


def impact_cached(params: dict[str, Any]) -> dict[str, Any]:
    """The impact report, computed at most once per ``IMPACT_CACHE_S`` per query (income
    settles by the day; the page does not need it fresher)."""
    raw = repr(sorted((k, str(v)) for k, v in params.items()))
    key = "impact:" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    report = cache.get(key)
    if report is None:
        report = impact_report(**params)
        cache.set(key, report, IMPACT_CACHE_S)
    return report


class ImpactView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ImpactThrottle]

    @extend_schema(
        summary="Household impact",
        description="Public. Income that reached farms, by month, province and poverty "
        "county; whole months, at most three years (default the last twelve). Cached for "
        f"{IMPACT_CACHE_S} s; rate-limited per client address.",
        parameters=[
            OpenApiParameter("from", str, description=DAY_OR_MONTH + " (its month)"),
            OpenApiParameter("to", str, description=DAY_OR_MONTH + " (its month)"),
            OpenApiParameter("province", str, description="A farm's province, as listed."),
            OpenApiParameter("currency", str, enum=list(Currency.values)),
        ],
        responses=IMPACT,
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        response = Response(impact_cached(impact_params(request.query_params)))
        response["Cache-Control"] = f"public, max-age={IMPACT_CACHE_S}"
        return response
