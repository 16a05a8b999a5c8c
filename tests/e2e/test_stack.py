"""The harness itself: pages load in Chromium inside a namespace where only lo exists."""

from collections.abc import Callable

from server.accounts.models import User
from tests.e2e.stack import Stack


def test_the_browser_sees_our_pages_and_nothing_but_loopback(
    stack: Stack, make_user: Callable[..., User]
) -> None:
    assert stack.ns.interfaces() == ["lo"]
    assert stack.http.get("/healthz").status_code == 200

    page = stack.page(make_user("viewer", username="somchai"))
    stack.open(page, "/")
    assert "somchai" in page.locator("header").inner_text()
    stack.assert_clean(page)
    # the browser cannot reach anything but loopback (a blank page: no CSP in the way)
    blank = stack.page()
    blank.goto("about:blank")
    reached = blank.evaluate(
        """async () => { try { await fetch("http://192.0.2.1/", {mode: "no-cors"});
                                return "reached"; } catch (e) { return "refused"; } }"""
    )
    assert reached == "refused"
