"""Report pages: a session's post-live report, a campaign's return, household impact. The
numbers come from the same selectors as the API (``orders.reports``, ``coupons.selectors``);
charts are drawn here, on the server (``frontend.charts``)."""

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from coupons.selectors import campaign_stats, campaigns_visible_to
from frontend.charts import Series, bar_chart, line_chart
from orders.reports.api import impact_cached, impact_params
from orders.reports.impact import impact_provinces
from orders.reports.sessions import session_for_report, session_report
from server.clientaddr import client_address
from server.errors import DomainError, NotFound
from server.ratelimit import hit


def _hhmm(iso: str) -> str:
    return timezone.localtime(datetime.fromisoformat(iso)).strftime("%H:%M")


@login_required
def session_report_page(request: HttpRequest, session_id: int) -> HttpResponse:
    try:
        session, standing = session_for_report(session_id=session_id, user=request.user)
    except NotFound:
        raise Http404 from None
    report = session_report(session=session, now=timezone.now(), standing=standing)
    timeline = report["timeline"]
    labels = [_hhmm(m["minute"]) for m in timeline]
    minutes = [m["minute"] for m in timeline]
    markers = []
    for drop in report["drops"]:
        opened = datetime.fromisoformat(drop["opens_at"]).replace(second=0, microsecond=0)
        key = opened.isoformat()
        if key in minutes:
            markers.append(
                (minutes.index(key), _("Coupon drop: %(name)s") % {"name": drop["campaign_name"]})
            )
    viewers_chart = line_chart(
        chart_id="viewers",
        title=_("Viewers and orders per minute"),
        desc=_("Average viewers and orders placed each minute; dashed lines mark coupon drops."),
        labels=labels,
        series=[
            Series(_("Viewers"), [m["viewers"] for m in timeline], "s1"),
            Series(_("Orders"), [m["orders"] for m in timeline], "s2"),
        ],
        markers=markers,
    )
    funnel_chart = bar_chart(
        chart_id="funnel",
        title=_("From watching to paying"),
        desc=_("People who watched, chatted, claimed a coupon, bought, and paid."),
        labels=[_step(f["step"]) for f in report["funnel"]],
        values=[f["count"] for f in report["funnel"]],
    )
    return render(
        request,
        "frontend/reports/session.html",
        {"report": report, "viewers_chart": viewers_chart, "funnel_chart": funnel_chart,
         "steps": [(_step(f["step"]), f["count"]) for f in report["funnel"]],
         "rows": list(zip(labels, timeline, strict=True))},
    )  # fmt: skip


def _step(step: str) -> str:
    return {
        "viewers": _("Watched"), "chatters": _("Chatted"), "claimers": _("Claimed a coupon"),
        "buyers": _("Bought"), "paid": _("Paid"),
    }[step]  # fmt: skip


@login_required
def campaign_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaigns_visible_to(user=request.user).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404
    stats = campaign_stats(campaign=campaign)
    sessions = stats["sessions"]
    chart = bar_chart(
        chart_id="campaign",
        title=_("Sales driven per session"),
        desc=_("Value of the orders that used this campaign's coupons, per live session."),
        labels=[s["title"] or _("Outside a live") for s in sessions],
        values=[s["gmv"] for s in sessions],
    )
    return render(request, "frontend/reports/campaign.html", {"stats": stats, "chart": chart})


def impact_page(request: HttpRequest) -> HttpResponse:
    """Public. The numbers come from the same cache as ``/api/impact/``; computing a new
    query is rate-limited per address like the API."""
    try:
        params = impact_params(request.GET)
    except DomainError:
        params = impact_params({})
    if not hit(f"impact-page:{client_address(request.META)}", limit=60, window_s=60):
        return HttpResponse(_("Too many requests; try again in a minute."), status=429)
    impact = impact_cached(params)
    months = impact["months"]
    chart = bar_chart(
        chart_id="impact",
        title=_("Income that reached farms, month by month"),
        desc=_("What farms were owed for delivered orders, by the month of delivery."),
        labels=[m["month"] for m in months],
        values=[m["income"] for m in months],
    )
    return render(
        request,
        "frontend/reports/impact.html",
        {"impact": impact, "chart": chart, "provinces": impact_provinces()},
    )
