"""Login limits, origins and the Content Security Policy over real HTTP and WebSockets.

Two real daphne processes on the test database and Redis: ``public`` runs in production
mode with no trusted proxy (so ``X-Forwarded-For`` is anyone's claim), ``proxied`` trusts
127.0.0.1 as its reverse proxy (so ``X-Forwarded-For`` names the client). Both count
login failures with small limits (docs/operations.md).
"""

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bench.nodes import HOST, Node, database_url, start_node, stop_node, tail, wait_ready
from server.accounts import services as accounts
from server.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMITS = {
    "TALAD_TEST_REAL_LIMITS": "1",
    "THROTTLE_AUTH": "1000/min",
    "LOGIN_FAILURES_PER_ADDRESS": "3",
    "LOGIN_FAILURES_PER_USERNAME": "5",
    "REGISTER_PER_ADDRESS": "3",
}
PRODUCTION = {
    "TALAD_ENV": "production",
    "SECRET_KEY": "t7Qm2-Xv9Lr4_Kp8Wz1Nc6Hy3Bd0Fg5Sj2Ua9Ei7Ok4Pl8Rq1Tv6Xw0Zy3Mn5",
    "ALLOWED_HOSTS": HOST,
    "SECURE_SSL_REDIRECT": "false",
}


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TALAD_ENV", "DEBUG", "TRUSTED_PROXIES")
    }
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": django_settings.REDIS_URL,
        "DB_POOL_MAX": "2",
        "LOG_LEVEL": "WARNING",
        **LIMITS,
        **extra,
    }


@pytest.fixture(scope="module")
def nodes(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    log_dir = tmp_path_factory.mktemp("auth-nodes")
    started: dict[str, Node] = {}
    try:
        started["public"] = start_node("public", env=_env(**PRODUCTION), log_dir=log_dir)
        started["proxied"] = start_node(
            "proxied", env=_env(TRUSTED_PROXIES=f"{HOST}/32"), log_dir=log_dir
        )
        wait_ready(list(started.values()))
        yield started
    except BaseException:
        for node in started.values():
            print(f"--- {node.name} ---\n{tail(node, 60)}")
        raise
    finally:
        for node in started.values():
            stop_node(node)


def _url(node: Node, path: str) -> str:
    return f"http://{HOST}:{node.port}{path}"


def _token(node: Node, username: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    reply = httpx.post(
        _url(node, "/api/auth/token/"),
        json={"username": username, "password": password},
        headers=headers,
        timeout=10,
    )
    return reply.status_code


# --- the client address ---------------------------------------------------------------


def test_a_new_forwarded_for_each_time_does_not_reset_the_limit(nodes):
    public = nodes["public"]
    accounts.user_register(username="target", password=PASSWORD)
    codes = [
        _token(public, f"guess{i}", "wrong", forwarded_for=f"198.51.100.{i}") for i in range(4)
    ]
    # three failures from one socket address, whatever each request claimed, then locked
    assert codes == [401, 401, 401, 429]
    # locked for every name from that address, the right password included
    assert _token(public, "target", PASSWORD, forwarded_for="203.0.113.9") == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(nodes):
    proxied = nodes["proxied"]
    accounts.user_register(username="target", password=PASSWORD)
    first = [_token(proxied, f"guess{i}", "wrong", forwarded_for="198.51.100.7") for i in range(4)]
    assert first == [401, 401, 401, 429]
    # another client behind the same proxy has its own budget
    assert _token(proxied, "target", PASSWORD, forwarded_for="198.51.100.8") == 200
    # the right-most untrusted hop counts: a spoofed left part changes nothing
    assert _token(proxied, "guess9", "wrong", forwarded_for="1.2.3.4, 198.51.100.7") == 429


def test_per_username_failures_are_limited_across_many_addresses(nodes):
    proxied = nodes["proxied"]
    accounts.user_register(username="somchai", password=PASSWORD)
    codes = [
        _token(proxied, name, "wrong", forwarded_for=f"198.51.100.{i}")
        for i, name in enumerate(["somchai", "SOMCHAI", "Somchai", "somchai", "sOmchai"])
    ]
    assert codes == [401] * 5
    # the owner, from a fresh address, waits out the window like the attacker
    assert _token(proxied, "somchai", PASSWORD, forwarded_for="203.0.113.1") == 429
    # other accounts are untouched
    accounts.user_register(username="malee", password=PASSWORD)
    assert _token(proxied, "malee", PASSWORD, forwarded_for="203.0.113.2") == 200


def test_successes_do_not_count(nodes):
    proxied = nodes["proxied"]
    accounts.user_register(username="busy", password=PASSWORD)
    codes = [_token(proxied, "busy", PASSWORD, forwarded_for="198.51.100.1") for _ in range(8)]
    assert codes == [200] * 8


def test_sign_ups_are_limited_per_address(nodes):
    public = nodes["public"]
    codes = [
        httpx.post(
            _url(public, "/api/auth/register/"),
            json={"username": f"new{i}", "password": PASSWORD},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
            timeout=10,
        ).status_code
        for i in range(4)
    ]
    assert codes == [201, 201, 201, 429]


# --- the login pages ------------------------------------------------------------------


def _page_login(node: Node, path: str, username: str, password: str, xff: str) -> httpx.Response:
    with httpx.Client(base_url=_url(node, ""), headers={"X-Forwarded-For": xff}) as client:
        page = client.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return client.post(
            path,
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": _url(node, path)},
        )


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_login_pages_are_throttled_with_429_and_the_form(nodes, path):
    proxied = nodes["proxied"]
    User.objects.create_superuser(username="staff", password=PASSWORD)
    codes = [
        _page_login(proxied, path, "staff", "wrong", "198.51.100.3").status_code for _ in "abc"
    ]
    assert codes == [200, 200, 200]
    locked = _page_login(proxied, path, "staff", PASSWORD, "198.51.100.3")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed logins" in locked.text
    assert "sessionid" not in locked.cookies
    # from another address the staff member still logs in (by any letter case)
    assert _page_login(proxied, path, "STAFF", PASSWORD, "198.51.100.4").status_code == 302


# --- origins ---------------------------------------------------------------------------


async def _ws_accepted(node: Node, origin: str) -> bool:
    try:
        async with connect(node_ws(node), origin=origin, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            return True
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        return False


def node_ws(node: Node) -> str:
    return f"ws://{HOST}:{node.port}/ws/me/"


def test_websocket_origins_are_compared_by_scheme_host_and_port(nodes):
    public = nodes["public"]
    port = public.port
    verdicts = {
        origin: asyncio.run(_ws_accepted(public, origin))
        for origin in [
            f"http://{HOST}:{port}",  # the page this process served
            f"https://{HOST}",  # ALLOWED_HOSTS over HTTPS on the default port
            f"https://{HOST}:{port}",  # wrong scheme
            f"http://{HOST}:{port + 1}",  # wrong port
            f"http://{HOST}",  # plain HTTP in production
            f"https://{HOST}:8443",  # wrong port
            "https://evil.example",
        ]
    }
    assert verdicts == {
        f"http://{HOST}:{port}": True,
        f"https://{HOST}": True,
        f"https://{HOST}:{port}": False,
        f"http://{HOST}:{port + 1}": False,
        f"http://{HOST}": False,
        f"https://{HOST}:8443": False,
        "https://evil.example": False,
    }


def test_whip_cors_admits_only_full_origins(nodes):
    public = nodes["public"]

    def preflight(origin: str) -> dict[str, Any]:
        reply = httpx.options(
            _url(public, "/api/sessions/1/whip"),
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=10,
        )
        return {k: v for k, v in reply.headers.items() if k.startswith("access-control-allow")}

    assert preflight(f"https://{HOST}")["access-control-allow-origin"] == f"https://{HOST}"
    assert preflight(f"https://{HOST}")["access-control-allow-credentials"] == "true"
    assert preflight(f"http://{HOST}") == {}
    assert preflight(f"https://{HOST}:8443") == {}


# --- Content Security Policy -------------------------------------------------------------


def test_pages_send_a_csp_without_unsafe_inline(nodes):
    proxied = nodes["proxied"]
    for path in ["/", "/login/", "/admin/login/", "/api/docs/"]:
        reply = httpx.get(_url(proxied, path), timeout=10)
        assert reply.status_code == 200, path
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        # nothing inline for the policy to block
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", reply.text), path
        assert "<style" not in reply.text, path
        assert not re.search(r"\son[a-z]+=\"", reply.text), path


def test_public_footer_does_not_link_the_admin(nodes):
    html = httpx.get(_url(nodes["proxied"], "/"), timeout=10).text
    assert "/admin/" not in html


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]
CHROMIUM_ARGS += ["--disable-background-networking", "--disable-component-update"]
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_chromium_reports_no_csp_violation_on_our_pages(nodes):
    playwright = pytest.importorskip("playwright.sync_api")
    proxied = nodes["proxied"]
    User.objects.create_superuser(username="staff", password=PASSWORD)
    pages = ["/", "/login/", "/admin/login/", "/api/docs/", "/admin/", "/studio/1/"]
    seen: dict[str, list[str]] = {}
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        for path in pages:
            if path == "/admin/":  # log in through the page, as a person would
                page.goto(_url(proxied, "/login/"))
                page.fill("input[name=username]", "staff")
                page.fill("input[name=password]", PASSWORD)
                page.click("form.stack button[type=submit]")
                page.wait_for_load_state("load")
            page.goto(_url(proxied, path), wait_until="networkidle")
            if path == "/api/docs/":
                page.wait_for_selector(".swagger-ui .info", timeout=15_000)
            seen[path] = page.evaluate("window.__csp") + [
                text for text in console if "Content Security Policy" in text
            ]
            console.clear()
        # the language menu still works without inline script
        page.goto(_url(proxied, "/"))
        with page.expect_navigation():
            page.select_option("form.lang select", "th")
        assert page.locator("html").get_attribute("lang") == "th"
        browser.close()
    assert seen == {path: [] for path in pages}
