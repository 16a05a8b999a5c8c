"""The viewer's live page with real video: the host publishes Chromium's fake camera from
the studio page (frontend/studio.js, WHIP), a viewer in another browser context plays it
on /live/<id>/ (frontend/live.js, WHEP through the media process), and the decoder's own
counters say frames arrive. Runs in the loopback-only namespace of tests/e2e/stack.py."""

import re

from django.utils import timezone
from playwright.sync_api import expect

from streams import services as streams
from tests.e2e.stack import Stack
from tests.e2e.steps import DECODED, KEEP_PEERS, SMALL_PHONE, go_live_from_the_studio, wait_playing
from tests.integration.order_world import user, world


def test_a_viewer_sees_the_hosts_camera_on_the_live_page(stack: Stack) -> None:
    # given: a live session with a pinned product, and a viewer already on its page
    w = world(pinned=True)
    session = w["session"]
    page = stack.page(user("nok"), viewport=SMALL_PHONE)
    page.context.add_init_script(KEEP_PEERS)
    stack.open(page, f"/live/{session.pk}/")
    page.wait_for_selector('[data-pill][data-state="live"]')
    # before the host's picture is up the page says so and opens no peer connection
    assert page.is_visible("[data-video-note]")
    assert page.evaluate("window.__keptPeers.length") == 0

    # when the host goes live from the studio with Chromium's fake camera
    studio = go_live_from_the_studio(stack, w["host"], session.pk)

    # then the viewer's page (told by `session.state`) plays it: the decoder counts frames,
    # the element's clock advances, and the waiting note is gone
    seen = wait_playing(page)
    assert seen["state"] == "connected", seen
    assert seen["width"] > 0 and seen["videoWidth"] == seen["width"], seen
    assert not seen["paused"], seen
    assert page.is_hidden("[data-video-note]")
    assert page.inner_text("[data-pill]") == "Live"
    # muted autoplay, with a way to turn the sound on
    assert page.is_visible("[data-unmute]")
    Stack.screenshot(page, "viewer-live", full_page=False)

    # and a viewer who arrives after the host went live plays it from the join snapshot
    late = stack.page(user("ploy"), viewport=SMALL_PHONE)
    late.context.add_init_script(KEEP_PEERS)
    stack.open(late, f"/live/{session.pk}/")
    wait_playing(late, frames=10)
    assert late.evaluate("window.__keptPeers.length") == 1

    # when the host stops the video (the session stays live) and goes live again
    studio.click("[data-action=live]")
    studio.locator("[data-studio][data-state=idle]").wait_for()
    # then the viewer is told the picture paused, keeps the page and its connection
    note = page.locator("[data-video-note]")
    expect(note).to_have_text(re.compile(r"video paused\. It comes back by itself\.$"))
    before = page.evaluate(DECODED)["framesDecoded"]
    studio.click("[data-action=live]")
    studio.locator("[data-studio][data-state=live]").wait_for(timeout=30_000)
    # and the picture comes back by itself, without the note over it
    expect(note).to_be_hidden(timeout=15_000)
    again = wait_playing(page, frames=before + 30)
    assert again["peers"] == 1, again  # the same peer connection carried on

    # when the host ends the session, the viewer's page says so and stops trying to play
    streams.session_end(session=session, actor=w["host"], now=timezone.now())
    expect(page.locator("[data-pill]")).to_have_attribute("data-state", "ended")
    expect(note).to_have_text(page.get_attribute("[data-live]", "data-msg-state-ended"))
    page.wait_for_timeout(3_000)  # longer than the first video retry (2 s)
    assert page.evaluate("window.__keptPeers.length") == 1
    assert page.evaluate("window.__keptPeers[0].connectionState") == "closed"
    expect(note).to_have_text(page.get_attribute("[data-live]", "data-msg-state-ended"))

    for p in (page, late, studio):
        stack.assert_clean(p)
