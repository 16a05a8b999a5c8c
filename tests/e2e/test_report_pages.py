"""The report pages in Chromium on a 360 px phone: the post-live report (host), the
campaign's return (promoter) and household impact (signed out). Each chart is drawn with
the data it stands for (as many points or bars as rows, real geometry), the table beside it
holds the same numbers, nothing scrolls sideways, and the console stays clean."""

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from coupons.services import campaigns
from streams.metrics_store import session_metrics_flush
from tests.e2e.stack import Stack
from tests.integration.order_world import user, world
from tests.integration.report_world import report_world

PHONE = {"width": 360, "height": 740}

# Every svg.chart on the page: its polylines (points), bars (rects) and markers, with the
# rendered geometry the browser computed.
CHARTS_JS = """() => [...document.querySelectorAll("svg.chart")].map(svg => {
  const box = svg.getBoundingClientRect();
  return {
    id: svg.getAttribute("aria-labelledby"),
    title: svg.querySelector("title").textContent,
    width: box.width, height: box.height,
    lines: [...svg.querySelectorAll("polyline.line")].map(p => {
      const b = p.getBBox();
      return {points: p.points.numberOfItems, width: b.width, height: b.height};
    }),
    bars: [...svg.querySelectorAll("rect.bar")].map(r => {
      const b = r.getBBox();
      return {width: b.width, height: b.height, title: r.querySelector("title").textContent};
    }),
    markers: svg.querySelectorAll("line.marker").length,
  };
})"""
SCROLL_JS = "() => document.documentElement.scrollWidth"
# What the page cost to load: the document and everything it fetched.
WEIGHT_JS = """() => {
  const all = [...performance.getEntriesByType("navigation"),
               ...performance.getEntriesByType("resource")];
  return {bytes: all.reduce((n, e) => n + e.encodedBodySize, 0),
          kinds: all.map(e => e.initiatorType), names: all.map(e => e.name)};
}"""


def assert_light(page: Any) -> None:
    """A report on a cheap phone's data plan: the HTML (charts inline) and a few small
    stylesheets and scripts; no images, fonts or chart libraries to fetch."""
    weight = page.evaluate(WEIGHT_JS)
    assert weight["bytes"] < 60_000, weight
    fetched = dict(zip(weight["names"], weight["kinds"], strict=True))
    assert all(kind in {"navigation", "link", "script", "css"} or name.endswith("/icon.svg")
               for name, kind in fetched.items()), weight  # fmt: skip
    assert len(fetched) <= 6, weight


def table(page: Any, selector: str) -> list[list[str]]:
    """The body rows of the table at ``selector``, cell texts (row header first)."""
    return page.eval_on_selector(
        selector,
        """t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent.trim()))""",
    )


def charts(page: Any) -> dict[str, dict]:
    return {c["id"].split("-")[0]: c for c in page.evaluate(CHARTS_JS)}


def test_report_campaign_and_impact_pages_on_a_phone(stack: Stack) -> None:
    # given a session with viewers, chat, a drop and three orders, its minutes flushed
    live = report_world()
    session = live["session"]
    assert session_metrics_flush(session_id=session.pk, now=timezone.now()) == 3

    # the host's post-live report
    page = stack.page(live["host"], viewport=PHONE)
    stack.open(page, f"/reports/sessions/{session.pk}/")
    drawn = charts(page)
    viewers, funnel = drawn["viewers"], drawn["funnel"]
    assert viewers["width"] > 280 and viewers["height"] > 80
    # two series over the three minutes, both with real extent; the drop's moment marked
    assert [line["points"] for line in viewers["lines"]] == [3, 3]
    assert all(line["width"] > 100 for line in viewers["lines"])
    assert viewers["lines"][0]["height"] > 0  # viewers 4 -> 2 -> 0
    assert viewers["markers"] == 1
    # the funnel: five steps, each bar as long as its count (4, 2, 2, 3, 2)
    widths = [bar["width"] for bar in funnel["bars"]]
    assert len(widths) == 5 and all(bar["height"] > 0 for bar in funnel["bars"])
    assert widths[0] == max(widths) > 0 and abs(widths[1] - widths[0] / 2) < 1
    assert abs(widths[3] - widths[0] * 3 / 4) < 1
    # the numbers behind the charts, as tables
    page.click("summary")  # the minute table is folded away
    minutes = table(page, "#timeline-h ~ details table")
    assert [row[1:] for row in minutes] == [
        ["4", "4", "2", "2", "0", "0", "0.00"],
        ["2", "0", "1", "0", "2", "3", "240.00"],
        ["0", "0", "0", "0", "1", "3", "240.00"],
    ]
    assert [row[1] for row in table(page, "#funnel-h ~ table")] == ["4", "2", "2", "3", "2"]
    assert table(page, "#products-h ~ .scroll table") == [["Mango", "3", "6", "480.00"]]
    figures = page.inner_text("#totals-h ~ dl")
    assert "480.00" in figures and "380.00" in figures and "456.00" in figures
    assert page.evaluate(SCROLL_JS) <= 360
    assert_light(page)
    # the CSV link downloads the minutes and products, signed in as the page is
    with page.expect_download() as download:
        page.click("text=Minutes and products (CSV)")
    rows = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("minute,viewers,") and rows[-1].endswith(",Mango,3,6,480.00,1.0")
    stack.assert_clean(page)
    stack.screenshot(page, "report")

    # the promoter's campaign return: one session, one bar of its 160.00
    page = stack.page(live["promoter"], viewport=PHONE)
    stack.open(page, f"/promote/campaigns/{live['campaign'].pk}/")
    [bar] = charts(page)["campaign"]["bars"]
    assert bar["width"] > 300 and bar["height"] > 0 and bar["title"] == "Live: 160.00 THB"
    assert table(page, ".report table") == [["Live", "1", "2", "1", "1", "160.00", "16.00"]]
    assert "10.0" in page.inner_text("dl.figures")  # sales per unit of cost
    assert page.evaluate(SCROLL_JS) <= 360
    stack.assert_clean(page)
    stack.screenshot(page, "campaign")

    # impact, signed out: three months, January and February with income, March none
    page = stack.page(None, viewport=PHONE)
    stack.open(page, "/impact/?from=2025-01&to=2025-03")
    bars = charts(page)["impact"]["bars"]
    assert [b["title"] for b in bars] == ["2025-01: 152.00", "2025-02: 228.00", "2025-03: 0.00"]
    assert bars[1]["height"] > bars[0]["height"] > 0 and bars[2]["height"] == 0
    assert abs(bars[0]["height"] / bars[1]["height"] - 152 / 228) < 0.01
    months = table(page, "#months-h ~ .scroll table")
    assert months == [
        ["2025-01", "152.00", "1", "3", "1"],
        ["2025-02", "228.00", "1", "3", "1"],
        ["2025-03", "0.00", "0", "0", "0"],
    ]
    assert table(page, "#prov-h ~ .scroll table")[0] == ["Nan", "380.00", "380.00", "1", "3"]
    assert "380.00" in page.inner_text("dl.figures")
    assert page.evaluate(SCROLL_JS) <= 360
    assert_light(page)
    stack.assert_clean(page)
    stack.screenshot(page, "impact")

    # a Thai phone gets the page in Thai (the document says so) and it works the same
    page = stack.page(None, viewport=PHONE, locale="th-TH")
    stack.open(page, "/impact/?from=2025-01&to=2025-03")
    assert page.evaluate("() => document.documentElement.lang") == "th"
    assert len(charts(page)["impact"]["bars"]) == 3
    assert page.evaluate(SCROLL_JS) <= 360
    stack.assert_clean(page)


def test_empty_reports_say_so(stack: Stack) -> None:
    # given a live that has not sold anything, a campaign that never dropped, and no income
    w = world()
    promoter = user("promoter", "promoter")
    campaign = campaigns.campaign_create(
        owner=promoter, name="Not yet", kind="percent", value=Decimal("10"), budget=5,
        per_user_limit=1, claim_ttl_s=600,
    )  # fmt: skip
    visits = [
        (w["host"], f"/reports/sessions/{w['session'].pk}/", "report-empty"),
        (promoter, f"/promote/campaigns/{campaign.pk}/", "campaign-empty"),
        (None, "/impact/", "impact-empty"),
    ]
    for who, path, name in visits:
        page = stack.page(who, viewport=PHONE)
        stack.open(page, path)
        # then each says plainly there is nothing yet, with no empty chart drawn
        assert page.locator(".report .empty").first.is_visible(), path
        assert page.evaluate("() => document.querySelectorAll('rect.bar, polyline').length") == 0
        assert page.evaluate(SCROLL_JS) <= 360
        stack.assert_clean(page)
        if name == "report-empty":
            stack.screenshot(page, name)
