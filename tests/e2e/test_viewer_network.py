"""The viewer's live page when the network is not kind (tests/e2e/stack.py): the web
process dies under a connected page and comes back on the same port, and the page says so
honestly, reconnects with back-off and ``last_seq``, and shows what was published while it
was away exactly once; and on a slow 3G link the page is usable within seconds."""

import time
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from coupons.services import campaigns, drops
from streams import services as streams
from tests.e2e.stack import Stack
from tests.e2e.steps import SMALL_PHONE
from tests.integration.order_world import user, world

# Slow 3G: 400 ms round trips, 400 kbit/s each way (CDP takes bytes per second).
SLOW_3G = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 400 * 1000 / 8,
    "uploadThroughput": 400 * 1000 / 8,
}
# The whole page (HTML, CSS, every module, the socket's snapshot) on slow 3G, first visit.
USABLE_WITHIN_S = 10.0

# The test's own instrument, before any page script: every socket the page opens and every
# frame it receives (type and seq), so the test can check the wire without the page
# exposing anything.
WATCH_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  const watched = { opened: [], frames: [] };
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      watched.opened.push({ url: String(url), at: performance.now() });
      this.addEventListener("message", (event) => {
        try {
          const f = JSON.parse(event.data);
          watched.frames.push({ type: f.type, seq: f.seq ?? null });
        } catch {}
      });
    }
  };
  Object.defineProperty(window, "__watched", { value: watched });
})();
"""

# When the page opened its socket, when the first frame (the snapshot) arrived and when the
# pill first said Live, on the page's clock (the same as the navigation timings).
WATCH_PILL = """
(() => {
  const Native = window.WebSocket;
  const marks = {};
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      marks.socket ??= performance.now();
      this.addEventListener("message", () => { marks.snapshot ??= performance.now(); });
    }
  };
  Object.defineProperty(window, "__marks", { value: marks });
})();
addEventListener("DOMContentLoaded", () => {
  const pill = document.querySelector("[data-pill]");
  if (!pill) return;
  const seen = () => {
    if (pill.dataset.state === "live") window.__marks.live ??= performance.now();
  };
  new MutationObserver(seen).observe(pill, { attributes: true });
  seen();
});
"""


@pytest.fixture
def stack_options() -> dict[str, Any]:
    return {"media": False}  # no video here: the socket and the page are what is tested


def chat_lines(page, text: str) -> int:
    return page.locator("[data-chat-log] li .chat-text", has_text=text).count()


def test_the_page_reconnects_after_the_web_process_dies_and_misses_nothing(stack: Stack) -> None:
    # given: a viewer on a live page, with one chat message already shown
    w = world(pinned=True)
    session = w["session"]
    viewer = user("nok")
    page = stack.page(viewer, viewport=SMALL_PHONE)
    page.context.add_init_script(WATCH_SOCKETS)
    stack.open(page, f"/live/{session.pk}/")
    pill = page.locator("[data-pill]")
    expect(pill).to_have_attribute("data-state", "live")
    assert pill.get_attribute("aria-live") == "polite"
    for text in ("Before the crash", "Rude words"):
        streams.chat_post(session=session, user=w["host"], text=text, now=timezone.now())
    expect(page.locator("[data-chat-log] li")).to_have_count(2)
    rude = page.locator("[data-chat-log] li", has_text="Rude words").get_attribute("data-id")
    seen_before = max(f["seq"] for f in page.evaluate("window.__watched.frames") if f["seq"])
    promoter = user("ploy", "promoter")
    campaign = campaigns.campaign_create(
        owner=promoter, name="Mango week", kind="percent", value=Decimal("10"), budget=10,
        per_user_limit=1, claim_ttl_s=3600,
    )  # fmt: skip

    # (every time the pill's text is written, a screen reader may speak it again)
    page.evaluate(
        """() => { window.__pillWrites = 0;
                   new MutationObserver((m) => { window.__pillWrites += m.length; })
                     .observe(document.querySelector("[data-pill]"), { childList: true }); }"""
    )

    # when the web process dies (SIGKILL) and is away for a few seconds
    with stack.down("web"):
        # then the pill says so at once, for screen readers too
        expect(pill).to_have_attribute("data-state", "reconnecting", timeout=5_000)
        assert pill.inner_text() == "Reconnecting…"
        down_at = page.evaluate("performance.now()")
        # while events are published without it (the services write to Redis directly):
        # a message is deleted, another posted, and a coupon drop opens
        streams.chat_delete(
            session=session, actor=w["host"], message_id=int(rude), now=timezone.now()
        )
        streams.chat_post(
            session=session, user=w["host"], text="While you were away", now=timezone.now()
        )
        drops.drop_open(
            session=session, campaign=campaign, actor=promoter, quantity=5, duration_s=120,
            now=timezone.now(),
        )  # fmt: skip
        page.wait_for_timeout(6_000)
        tries_while_down = [
            s for s in page.evaluate("window.__watched.opened") if s["at"] > down_at
        ]
        assert pill.get_attribute("data-state") == "reconnecting"

    # then it comes back by itself (the next try is at most ~10 s away on the back-off)
    expect(pill).to_have_attribute("data-state", "live", timeout=20_000)
    assert pill.inner_text() == "Live"
    # said twice, whatever the number of tries: "Reconnecting…", then "Live"
    assert page.evaluate("window.__pillWrites") == 2
    # and what was published while it was away is shown, exactly once; the message deleted
    # meanwhile is gone (its deletion came before the new snapshot, which lacks it)
    expect(page.locator("[data-drop]")).to_be_visible()
    assert page.inner_text("[data-drop-terms]") == "10% off"
    assert chat_lines(page, "While you were away") == 1
    assert chat_lines(page, "Before the crash") == 1
    assert chat_lines(page, "Rude words") == 0
    assert page.locator("[data-chat-log] li").count() == 2

    # on the wire: it asked for what came after the last event it had, and no event came twice
    watched = page.evaluate("window.__watched")
    urls = [s["url"] for s in watched["opened"]]
    assert urls[0].endswith(f"/ws/live/{session.pk}/"), urls
    assert all(u.endswith(f"?last_seq={seen_before}") for u in urls[1:]), (urls, seen_before)
    seqs = [f["seq"] for f in watched["frames"] if f["seq"] is not None]
    assert seqs == sorted(set(seqs)), seqs
    # back-off: a few tries in 6 s down (1 s, 2 s, 4 s ...), not a tight loop
    assert 1 <= len(tries_while_down) <= 4, tries_while_down

    # and the connection works: the viewer claims the coupon dropped while it was away
    page.click("[data-claim]")
    expect(page.locator("[data-drop-result]")).to_contain_text("Yours")
    # the browser's own notes on the refused tries are the only console errors
    failures = [e for e in page.errors if "WebSocket connection to" in e and "failed" in e]
    assert page.errors == failures, page.errors
    assert len(failures) <= len(tries_while_down) + 1, page.errors


def test_on_slow_3g_the_live_page_is_usable_within_seconds(stack: Stack) -> None:
    # given: a live session with a pinned product, and a phone on slow 3G, nothing cached
    w = world(pinned=True)
    session = w["session"]
    page = stack.page(user("nok"), viewport=SMALL_PHONE)
    page.context.add_init_script(WATCH_PILL)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)

    # when the viewer opens the live page
    started = time.monotonic()
    stack.open(page, f"/live/{session.pk}/")
    page.wait_for_selector('[data-pill][data-state="live"]', timeout=30_000)
    page.wait_for_selector("[data-pinned]:not([hidden])")
    waited = time.monotonic() - started

    # then it is usable (status Live, the pinned card and its Buy button) within the budget
    timings = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType("navigation")[0];
          const paint = performance.getEntriesByType("paint")
            .find((p) => p.name === "first-contentful-paint");
          const bytes = performance.getEntriesByType("resource")
            .reduce((n, r) => n + r.transferSize, nav.transferSize);
          return { html: nav.responseEnd, fcp: paint?.startTime ?? null,
                   loaded: nav.loadEventEnd, bytes, ...window.__marks };
        }"""
    )
    print(
        "slow 3G time-to-usable:",
        {k: round(v) if isinstance(v, float) else v for k, v in timings.items()},
        f"waited {waited:.2f} s",
    )
    assert timings.get("live") is not None and timings["fcp"] is not None, timings
    assert timings["live"] / 1000 < USABLE_WITHIN_S, timings
    assert page.is_visible("[data-buy]") and page.inner_text("[data-pinned-price]") == "80.00"
    # the emulation really slowed the page: the HTML alone waits out one emulated latency
    assert timings["html"] > SLOW_3G["latency"], timings
    stack.assert_clean(page)


# LiveSocket (frontend/static/frontend/socket.js) driven by hand in a page of ours: a fake
# WebSocket the test opens, feeds and drops, timers that run when the test says, and a
# fixed jitter (Math.random() = 0.5), so back-off and de-duplication are exact.
SOCKET_BY_HAND = """
async (src) => {
  const { LiveSocket } = await import(src);
  const sockets = [];
  class FakeSocket {
    static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
    constructor(url) {
      Object.assign(this, { url, readyState: 0, sent: [], on: {} });
      sockets.push(this);
    }
    addEventListener(type, fn) { (this.on[type] ||= []).push(fn); }
    fire(type, event = {}) { for (const fn of this.on[type] || []) fn(event); }
    open() { this.readyState = 1; this.fire("open"); }
    frame(f) {
      const ts = new Date().toISOString();
      this.fire("message", { data: JSON.stringify({ ts, data: {}, ...f }) });
    }
    drop(code = 1006) { this.readyState = 3; this.fire("close", { code }); }
    send(data) { this.sent.push(JSON.parse(data).type); }
    close(code) { this.readyState = 2; this.closedWith = code; }
  }
  const timers = [];
  const saved = [window.WebSocket, window.setTimeout, window.setInterval, Math.random];
  window.WebSocket = FakeSocket;
  window.setTimeout = (fn, ms) => timers.push({ fn, ms, kind: "timeout" });
  window.setInterval = (fn, ms) => timers.push({ fn, ms, kind: "interval" });
  Math.random = () => 0.5;
  const out = { events: [], states: [], retries: [], urls: [] };
  const retry = () => {  // the try the socket scheduled last: note its delay, run it
    const t = timers.filter((x) => x.kind === "timeout").at(-1);
    out.retries.push(t.ms);
    t.fn();
    return sockets.at(-1);
  };
  try {
    const live = new LiveSocket(7, {
      url: "ws://test/",
      onEvent: (f) => out.events.push(f.seq ?? f.type),
      onState: (s, d) => out.states.push(d.inS ? `${s} ${d.inS}` : s),
    });
    live.connect();
    let ws = sockets.at(-1);
    ws.open();
    ws.frame({ type: "snapshot", data: { last_seq: 10 } });
    for (const seq of [11, 12, 12, 9, 13]) ws.frame({ type: "chat.message", seq });
    const pending = live.send("chat.send", { text: "hi" }).catch((e) => e.code);
    ws.drop();
    out.pendingRejected = await pending;
    ws = retry(); ws.drop();          // refused: 1 s, then 2 s
    ws = retry(); ws.drop();          // 4 s
    ws = retry(); ws.open(); ws.drop(); // accepted and dropped before any snapshot: 8 s
    ws = retry(); ws.open();
    ws.frame({ type: "snapshot", data: { last_seq: 13 } });
    for (const seq of [13, 14]) ws.frame({ type: "stock", seq });
    ws.drop();                        // after a snapshot the back-off starts over: 1 s
    ws = retry(); ws.open(); ws.frame({ type: "snapshot", data: { last_seq: 14 } });
    // a silent link: the ping gets no pong, the socket is given up at once
    timers.filter((x) => x.kind === "interval").at(-1).fn();
    const dead = ws;
    const timeouts = () => timers.filter((x) => x.kind === "timeout").length;
    const before = timeouts();
    timers.filter((x) => x.kind === "timeout").at(-1).fn();
    out.stateAfterMissedPong = live.state;
    out.deadClosedWith = dead.closedWith;
    out.sentOnDead = dead.sent;
    dead.frame({ type: "stock", seq: 99 });  // late frames of the dead socket are not heard
    dead.drop();                      // nor its close event: not a second drop
    out.triesScheduledForDead = timeouts() - before;
    ws = retry();
    ws.open(); ws.frame({ type: "snapshot", data: { last_seq: 14 } });
    ws.drop(4429);                    // flooding: four times the wait
    ws = retry(); ws.open(); ws.frame({ type: "snapshot", data: { last_seq: 14 } });
    // back on the page: one ping now (not two while it is unanswered), another after a pong
    const visible = () => document.dispatchEvent(new Event("visibilitychange"));
    visible(); visible();
    out.sentWhenVisible = [...ws.sent];
    ws.frame({ type: "pong", reply_to: "p-x" });
    visible();
    out.sentAfterPong = [...ws.sent];
    // back online while waiting for the next try: it tries now
    ws.drop();
    const waiting = sockets.length;
    dispatchEvent(new Event("online"));
    out.triedWhenOnline = sockets.length - waiting;
    ws = sockets.at(-1); ws.open(); ws.frame({ type: "snapshot", data: { last_seq: 14 } });
    const beforeGone = timeouts();
    ws.drop(4404);                    // no such session: closed for good
    out.triesAfter4404 = timeouts() - beforeGone;
    out.urls = sockets.map((s) => s.url);
    out.finalState = live.state;
  } finally {
    [window.WebSocket, window.setTimeout, window.setInterval, Math.random] = saved;
  }
  return out;
}
"""


def test_live_socket_backs_off_drops_duplicates_and_gives_up_on_a_silent_link(
    stack: Stack,
) -> None:
    page = stack.page()
    stack.open(page, "/")
    src = page.eval_on_selector("script[src$='site.js']", "s => s.src").replace(
        "site.js", "socket.js"
    )
    out = page.evaluate(SOCKET_BY_HAND, src)
    # every event once, in order: duplicates and old seqs are dropped
    assert out["events"] == ["snapshot", 11, 12, 13, "snapshot", 14, "snapshot", "snapshot",
                             "snapshot", "snapshot"], out  # fmt: skip
    assert out["pendingRejected"] == "network", out
    # 1, 2, 4, then 8 s (an accept without a snapshot is not a success), 1 s after a snapshot,
    # 1 s after the silent link, 4 s after flooding (4429)
    assert out["retries"] == [1000, 2000, 4000, 8000, 1000, 1000, 4000], out
    assert out["states"][:3] == ["connecting", "live", "reconnecting 1"], out
    assert "reconnecting 8" in out["states"] and out["finalState"] == "closed", out
    # every reconnect asks for what came after the newest event it had
    assert out["urls"][0] == "ws://test/", out
    assert out["urls"][1:5] == ["ws://test/?last_seq=13"] * 4, out
    assert all(u == "ws://test/?last_seq=14" for u in out["urls"][5:]), out
    # the silent socket: pinged, given up (closed by us, "reconnecting" at once) and its
    # late close event scheduled no second try
    assert out["sentOnDead"] == ["ping"] and out["deadClosedWith"] == 4000, out
    assert out["stateAfterMissedPong"] == "reconnecting", out
    assert out["triesScheduledForDead"] == 1, out
    # back on the page it checks the socket at once; back online it tries at once
    assert out["sentWhenVisible"] == ["ping"], out
    assert out["sentAfterPong"] == ["ping", "ping"], out
    assert out["triedWhenOnline"] == 1, out
    # a session that does not exist (4404) is not retried
    assert out["triesAfter4404"] == 0 and out["states"][-1] == "closed", out
    stack.assert_clean(page)
