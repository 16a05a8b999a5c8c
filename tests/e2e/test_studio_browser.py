"""Chromium's fake camera goes live from the host studio page (frontend/studio.js) over
WHIP; an aiortc viewer plays it over WHEP. Server and browser run together inside a
network namespace with only ``lo`` up (``unshare -n``, as root), so no packet leaves
loopback; PostgreSQL and Redis are reached through unix-socket tunnels (tests/e2e/tunnel.py).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from catalog import services as catalog
from server.accounts import services as accounts
from streams import services as sessions
from tests.conftest import PASSWORD
from tests.e2e.tunnel import unix_to_tcp

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_S = 150

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="unshare -n needs root (CI runs as root)"),
]


def test_chromium_publishes_from_the_studio_and_an_aiortc_viewer_plays_it(settings):
    pytest.importorskip("playwright")
    # given: a host with a live session, logged in (the browser gets their cookie)
    host = accounts.user_register(username="farmer", password=PASSWORD, role="host")
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    now = timezone.now()
    session = sessions.session_create(host=host, farm=farm, title="Mangoes", now=now)
    sessions.session_start(session=session, actor=host, now=now)
    browser_client = Client()
    browser_client.force_login(host)
    cookie = browser_client.cookies["sessionid"].value

    db = connection.settings_dict
    redis = urlsplit(settings.REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="talad-e2e-") as folder:
        tunnels = [
            unix_to_tcp(f"{folder}/pg.sock", db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)),
            unix_to_tcp(f"{folder}/redis.sock", redis.hostname, redis.port or 6379),
        ]
        database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@127.0.0.1:5432/{db['NAME']}"
        redis_url = f"redis://127.0.0.1:6379{redis.path or ''}"
        try:
            # when: the whole scenario runs in a namespace of its own
            run = subprocess.run(
                ["unshare", "-n", sys.executable, "-m", "tests.e2e.studio_scenario",
                 "--session", str(session.pk), "--cookie", cookie, "--tunnels", folder,
                 "--database-url", database_url, "--redis-url", redis_url,
                 "--chromium", CHROMIUM],
                cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
            )  # fmt: skip
        finally:
            for tunnel in tunnels:
                tunnel.close()
        line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
        logs = {p.name: p.read_text()[-2000:] for p in Path(folder).glob("*.log")}
        assert line, (run.returncode, run.stdout[-2000:], run.stderr[-2000:], logs)
        result = json.loads(line.removeprefix("RESULT "))
        screenshot = Path(folder) / "studio.png"
        if screenshot.exists():
            shutil.copy(screenshot, Path(tempfile.gettempdir()) / "talad-studio.png")

    print("studio scenario:", json.dumps({k: v for k, v in result.items() if k != "console"}))
    # then: only loopback existed; the browser went live through the studio's own code
    assert "error" not in result, (result, logs)
    assert result["interfaces"] == ["lo"]
    assert result["published"], result
    # the viewer was sent to the media process (307) and got real frames
    assert result["whep_status"] == 201 and result["redirected_to_media"], result
    assert result["frames"] >= 60, result
    assert result["sizes"] and all(w <= 640 and h <= 360 for w, h in result["sizes"]), result
    # and a Chromium viewer decoded the data-saver level
    viewer = result["chromium_viewer"]
    assert viewer["status"] == 201 and viewer["state"] == "connected", viewer
    assert viewer["mime"] == "video/VP8" and viewer["framesDecoded"] >= 60, viewer
    assert (viewer["width"], viewer["height"]) == (320, 180), viewer
    # the host saw stream health; stopping ended the publication
    assert "fps" in result["health"], result
    assert result["after_stop"] == 409, result
