"""The studio in a real browser, run inside a network namespace with only ``lo`` up
(``tests/e2e/test_studio_browser.py`` starts it with ``unshare -n``): web and media
processes, headless Chromium with its fake camera publishing through the studio page's
own code (frontend/studio.js), and an aiortc viewer playing it over WHEP. Prints one JSON
line with what happened; the test judges it.

    python -m tests.e2e.studio_scenario --session ID --cookie SESSIONID --tunnels DIR ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.media import clients
from tests.e2e.stack import CHROMIUM_ARGS
from tests.e2e.tunnel import tcp_to_unix

ROOT = Path(__file__).resolve().parents[2]


# A WHEP player in the page: play for a few seconds, report what the decoder saw.
WHEP_IN_PAGE = """
async (url) => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 3000);
  });
  const reply = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
  });
  if (reply.status !== 201) return { status: reply.status };
  await pc.setRemoteDescription({ type: "answer", sdp: await reply.text() });
  await new Promise((done) => setTimeout(done, 4000));
  const out = { status: 201, state: pc.connectionState };
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      Object.assign(out, {
        framesDecoded: s.framesDecoded, width: s.frameWidth, height: s.frameHeight,
        keyFramesDecoded: s.keyFramesDecoded,
      });
    }
    if (s.type === "codec" && s.mimeType.startsWith("video/")) out.mime = s.mimeType;
  });
  pc.close();
  return out;
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def daphne(port: int, app: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


async def wait_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.2)


async def wait_media_known(web: str, options: argparse.Namespace, timeout: float = 15) -> None:
    """Until the web process would send the host to a media process (307), which it does
    once that process has announced itself in Redis; before, it answers 503."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5, cookies={"sessionid": options.cookie}) as http:
        while True:
            reply = await http.post(
                f"{web}/api/sessions/{options.session}/whip",
                content="v=0\r\n",
                headers={"Content-Type": "application/sdp"},
            )
            if reply.status_code == 307:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no media process known to web: {reply.status_code}")
            await asyncio.sleep(0.1)


async def scenario(options: argparse.Namespace, result: dict) -> None:
    from playwright.async_api import async_playwright

    clients.loopback_only()
    web_port, media_port = free_port(), free_port()
    web, media = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{media_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": options.database_url,
        "REDIS_URL": options.redis_url,
        "DB_POOL_MAX": "0",
        "MEDIA_ICE_HOST_ADDRESSES": "127.0.0.1",
        "MEDIA_RECORDING": "false",
    }
    logs = Path(options.tunnels)
    procs = [
        daphne(web_port, "server.asgi:application", env, logs / "web.log"),
        daphne(media_port, "server.media_asgi:application",
               {**env, "MEDIA_NODE_URL": media}, logs / "media.log"),
    ]  # fmt: skip
    try:
        await wait_up(f"{web}/healthz", procs[0])
        await wait_up(f"{media}/healthz", procs[1])
        await wait_media_known(web, options)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=options.chromium, headless=True, args=CHROMIUM_ARGS
            )
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            await context.add_cookies([{"name": "sessionid", "value": options.cookie, "url": web}])
            page = await context.new_page()
            page.on("console", lambda m: result["console"].append(m.text[:300]))
            page.on("pageerror", lambda e: result["console"].append(f"pageerror: {e}"[:300]))
            await page.goto(f"{web}/studio/{options.session}/")
            await page.click("[data-action=live]")
            studio = page.locator("[data-studio]")
            await studio.and_(page.locator("[data-state=live]")).wait_for(timeout=20_000)
            result["published"] = True
            result["status_text"] = await page.locator("[data-status]").inner_text()

            async with httpx.AsyncClient(timeout=10) as http:
                player = await clients.play(
                    http, f"{web}/api/sessions/{options.session}/whep", quality="hd"
                )
                result["whep_status"] = player.status
                deadline = time.monotonic() + 20
                while player.frames < 60 and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                result["frames"] = player.frames
                result["sizes"] = sorted(player.sizes)
                result["redirected_to_media"] = (player.location or "").startswith(media)
                deadline = time.monotonic() + 6
                while time.monotonic() < deadline:
                    result["health"] = await page.locator("[data-health]").inner_text()
                    if "fps" in result["health"]:
                        break
                    await asyncio.sleep(0.3)
                await page.screenshot(path=str(logs / "studio.png"))
                await player.close()

                # a Chromium viewer decodes what the relay encoded once (VP8, Opus)
                viewer = await context.new_page()
                await viewer.goto(f"{web}/healthz")  # any page of ours: same origin
                result["chromium_viewer"] = await viewer.evaluate(
                    WHEP_IN_PAGE, f"/api/sessions/{options.session}/whep?quality=low"
                )
                await viewer.close()

                await page.click("[data-action=live]")  # stop
                await studio.and_(page.locator("[data-state=idle]")).wait_for(timeout=10_000)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    after = await clients.play(
                        http, f"{web}/api/sessions/{options.session}/whep", quality="hd"
                    )
                    await after.close()
                    result["after_stop"] = after.status
                    if after.status == 409:
                        break
                    await asyncio.sleep(0.5)
            await browser.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session", type=int, required=True)
    parser.add_argument("--cookie", required=True)
    parser.add_argument("--tunnels", required=True, help="folder with pg.sock and redis.sock")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    tcp_to_unix(5432, os.path.join(options.tunnels, "pg.sock"))
    tcp_to_unix(6379, os.path.join(options.tunnels, "redis.sock"))
    interfaces = [name for _, name in socket.if_nameindex()]
    result: dict = {"interfaces": interfaces, "console": [], "published": False}
    try:
        asyncio.run(asyncio.wait_for(scenario(options, result), timeout=90))
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:1000]
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
