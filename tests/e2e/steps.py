"""What people do in the browser tests, written once: sign in, go live from the studio, watch
the video play, drop and claim coupons, check out, move orders on the desk. Each step
drives the page through the same selectors a person's taps reach; the tests assert what
follows."""

from decimal import Decimal
from typing import Any

from django.utils import timezone
from playwright.sync_api import expect

from coupons.models import Drop
from coupons.services import campaigns, drops
from streams.models import LiveSession
from tests.conftest import PASSWORD
from tests.e2e.stack import Stack
from tests.integration.order_world import user

SMALL_PHONE = {"width": 360, "height": 740}
ADDRESS = {"name": "Nok Jaidee", "phone": "0812345678", "line1": "99 Moo 3", "province": "Nan",
           "postcode": "55000"}  # fmt: skip

# The test's own instrument, added before any page script runs: it keeps every peer
# connection the page makes, so the test can read the decoder's counters (getStats)
# without the page exposing anything.
KEEP_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  const kept = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); kept.push(this); }
  };
  Object.defineProperty(window, "__keptPeers", { value: kept });
})();
"""

DECODED = """
async () => {
  const out = { peers: window.__keptPeers.length, framesDecoded: 0, width: 0, height: 0 };
  for (const pc of window.__keptPeers) {
    if (pc.connectionState === "closed") continue;
    out.state = pc.connectionState;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out.framesDecoded += s.framesDecoded || 0;
        out.width = s.frameWidth || out.width;
        out.height = s.frameHeight || out.height;
      }
    });
  }
  const v = document.querySelector("[data-video]");
  Object.assign(out, {
    currentTime: v.currentTime, videoWidth: v.videoWidth, paused: v.paused,
    presented: v.getVideoPlaybackQuality().totalVideoFrames,
  });
  return out;
}
"""


def in_view(page: Any, selector: str) -> bool:
    """Wholly inside the viewport, as the user sees it without scrolling."""
    return page.eval_on_selector(
        selector,
        """el => { const r = el.getBoundingClientRect();
                   return r.width > 0 && r.left >= 0 && r.top >= 0
                          && r.right <= innerWidth && r.bottom <= innerHeight; }""",
    )


def fits_the_phone(page: Any) -> bool:
    """Claim and Buy on screen without scrolling, and nothing scrolls sideways."""
    width = page.viewport_size["width"]
    return (
        in_view(page, "[data-claim]")
        and in_view(page, "[data-buy]")
        and page.evaluate("document.documentElement.scrollWidth") <= width
    )


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """The login form, as a person fills it in (the page is already on /login/)."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")


def go_live(stack: Stack, studio: Any, *, host: Any, session_id: int) -> None:
    """The host's studio page publishes Chromium's fake camera through its own code (WHIP)."""
    stack.wait_media(host=host, session_id=session_id)
    studio.click("[data-action=live]")
    try:
        studio.locator("[data-studio][data-state=live]").wait_for(timeout=30_000)
    except Exception as exc:
        state = studio.get_attribute("[data-studio]", "data-state")
        text = studio.inner_text("[data-status]")
        raise AssertionError((state, text, studio.errors, stack.log("media"))) from exc


def go_live_from_the_studio(stack: Stack, host: Any, session_id: int) -> Any:
    """A studio page of the host's, signed in by cookie, live with the fake camera."""
    studio = stack.page(host)
    stack.open(studio, f"/studio/{session_id}/")
    go_live(stack, studio, host=host, session_id=session_id)
    return studio


def wait_playing(page: Any, *, frames: int = 30, timeout_s: float = 30) -> dict:
    """Until the page's decoder has decoded ``frames`` frames and the element's clock runs
    (the page was opened with KEEP_PEERS)."""
    first = None
    deadline = timeout_s * 1000
    waited = 0
    while waited < deadline:
        now = page.evaluate(DECODED)
        if first is None and now["videoWidth"] > 0:
            first = now
        if (first is not None and now["framesDecoded"] >= frames
                and now["currentTime"] > first["currentTime"]
                and now["presented"] > first["presented"]):  # fmt: skip
            return now
        page.wait_for_timeout(300)
        waited += 300
    raise AssertionError(f"no video playing: first={first} last={now}")


def promoter_drop(
    session: LiveSession, *, kind: str = "percent", value: str = "10", quantity: int = 5
) -> Drop:
    """A promoter's campaign ("Mango week") dropping ``quantity`` coupons for two minutes,
    through the services (the viewer's page is what is under test)."""
    promoter = user("ploy", "promoter")
    campaign = campaigns.campaign_create(
        owner=promoter, name="Mango week", kind=kind, value=Decimal(value), budget=10,
        per_user_limit=1, claim_ttl_s=3600,
    )  # fmt: skip
    return drops.drop_open(
        session=session, campaign=campaign, actor=promoter, quantity=quantity, duration_s=120,
        now=timezone.now(),
    )  # fmt: skip


def drop_from_the_studio(studio: Any, *, campaign: str, quantity: int, seconds: int) -> None:
    """The host drops coupons of ``campaign`` from the studio's form; the drop is listed."""
    option = studio.locator("#drop-campaign option", has_text=campaign)
    option.wait_for(state="attached")
    studio.select_option("#drop-campaign", option.get_attribute("value"))
    studio.fill("#drop-quantity", str(quantity))
    studio.fill("#drop-seconds", str(seconds))
    studio.click("button:has-text('Drop coupons now')")
    studio.locator("[data-drops] li", has_text=f"{quantity} / {quantity}").wait_for()


def claim(page: Any) -> None:
    """The viewer taps Claim on the drop showing on the live page."""
    page.wait_for_selector("[data-drop]:not([hidden])")
    page.click("[data-claim]")
    expect(page.locator("[data-drop-result]")).to_contain_text("Yours")


def fill_checkout(page: Any, *, qty: int = 1, address: dict[str, str] = ADDRESS) -> None:
    """Buy on the pinned product, ``qty`` units, the address, cash on delivery: the sheet is
    ready to place."""
    page.click("[data-buy]")
    page.wait_for_selector("[data-sheet][open]")
    for _ in range(qty - 1):
        page.click('[data-qty-step="1"]')
    for field, value in address.items():
        page.fill(f"[data-checkout] [name={field}]", value)
    page.check('[name=payment_method][value="cod"]')


def place(page: Any) -> None:
    """Place the order the sheet shows; the sheet turns into the placed order."""
    page.click("[data-co-place]")
    page.wait_for_selector("[data-placed]:not([hidden])")


def desk_bulk(page: Any, action: str, *, done: int, refused: int = 0) -> None:
    """On the desk's orders list: every order on the page, then ``action``'s button."""
    page.get_by_label("All on this page").check()
    page.get_by_role("button", name=action, exact=True).click()
    page.get_by_text(f"{done} done, {refused} refused.").wait_for()


def desk_ship(
    page: Any, numbers: dict[int, str], *, carrier: str = "thailandpost", done: int,
    refused: int = 0,
) -> Any:
    """Ship every order on the desk's list with ``carrier``, each order id's tracking number
    from ``numbers``; the rows still to fix (refused ones) are returned."""
    page.get_by_label("All on this page").check()
    page.get_by_role("button", name="Ship…").click()
    page.get_by_label("Carrier for all").select_option(carrier)
    rows = page.locator("[data-ship-rows] > li")
    for order_id, number in numbers.items():
        rows.filter(has_text=f"#{order_id}").get_by_label("Tracking number").fill(number)
    page.get_by_role("button", name="Mark shipped").click()
    page.get_by_text(f"{done} done, {refused} refused.").wait_for()
    return rows
