"""The encode-once relay on its own (no peers): key frames, PLI limits, bounded queues,
a publisher that restarts its clock. Real encoders, a real test-pattern source."""

import asyncio
import time

from bench.media import clients
from streams.media import relay
from streams.media.peers import decide_level


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def drain(track: relay.PacketTrack, into: list) -> None:
    while True:
        into.append(await track.recv())


async def test_a_joining_subscriber_starts_on_a_key_frame_and_packets_are_shared():
    r = relay.Relay()
    r.attach(video=clients.TestPattern(320, 180, 30), audio=None)
    first, second = (r.subscribe(level="low", audio=False)[0] for _ in range(2))
    got_first, got_second = [], []
    tasks = [asyncio.ensure_future(drain(first, got_first))]
    await wait_for(lambda: len(got_first) >= 20, 5)
    tasks.append(asyncio.ensure_future(drain(second, got_second)))
    await wait_for(lambda: len(got_second) >= 10, 5)
    assert got_first[0].is_keyframe and got_second[0].is_keyframe
    # the very same packet objects: encoded once, handed to both
    assert any(p is q for p in got_second for q in got_first)
    assert r.levels["hd"].frames == 0  # nobody watches hd: it is never encoded
    for task in tasks:
        task.cancel()
    first.stop()
    second.stop()
    await r.close()


async def test_a_subscriber_that_never_reads_stays_bounded_and_resumes_at_a_key_frame():
    r = relay.Relay()
    r.attach(video=clients.TestPattern(160, 90, 30), audio=None)
    stalled, reader = (r.subscribe(level="low", audio=False)[0] for _ in range(2))
    received: list = []
    await stalled.recv()  # joins, then never reads again
    task = asyncio.ensure_future(drain(reader, received))
    await wait_for(lambda: r.levels["low"].frames >= relay.VIDEO_QUEUE_MAX * 2 + 10, 15)
    assert len(stalled.queue) <= relay.VIDEO_QUEUE_MAX
    assert stalled.flushes >= 1
    assert stalled.queue[0].is_keyframe  # what it holds starts at a key frame
    assert len(reader.queue) <= 2  # the reading subscriber is not held back
    task.cancel()
    stalled.stop()
    reader.stop()
    await r.close()


async def test_pli_storms_are_rate_limited_per_level():
    r = relay.Relay()
    r.attach(video=clients.TestPattern(160, 90, 30), audio=None)
    tracks = [r.subscribe(level="low", audio=False)[0] for _ in range(5)]
    sinks: list[list] = [[] for _ in tracks]
    tasks = [asyncio.ensure_future(drain(t, s)) for t, s in zip(tracks, sinks, strict=True)]
    await wait_for(lambda: all(s for s in sinks), 5)
    level = r.levels["low"]
    keyframes_before, started = level.keyframes, time.monotonic()
    while time.monotonic() - started < 2.0:
        for track in tracks:
            track.request_keyframe()  # every subscriber asks every 10 ms
        await asyncio.sleep(0.01)
    forced = level.keyframes - keyframes_before
    # 2 s at most one per KEYFRAME_MIN_INTERVAL_S, whoever asks
    assert 1 <= forced <= 2.0 / relay.KEYFRAME_MIN_INTERVAL_S + 1
    for task in tasks:
        task.cancel()
    for track in tracks:
        track.stop()
    await r.close()


async def test_a_publisher_that_restarts_its_clock_never_moves_output_time_back():
    r = relay.Relay()
    track = r.subscribe(level="low", audio=False)[0]
    got: list = []
    task = asyncio.ensure_future(drain(track, got))
    r.attach(video=clients.TestPattern(160, 90, 30), audio=None)
    await wait_for(lambda: len(got) >= 15, 5)
    r.attach(video=clients.TestPattern(160, 90, 30), audio=None)  # the host reconnects
    await wait_for(lambda: len(got) >= 40, 5)
    pts = [p.pts for p in got]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert all(p.time_base == relay.VIDEO_TIME_BASE for p in got)
    task.cancel()
    track.stop()
    await r.close()


def test_auto_quality_steps_down_on_loss_and_back_up_when_it_clears():
    assert decide_level("hd", lossy=1, clean=0) == "hd"
    assert decide_level("hd", lossy=2, clean=0) == "low"
    assert decide_level("low", lossy=0, clean=9) == "low"
    assert decide_level("low", lossy=0, clean=10) == "hd"
    assert decide_level(None, lossy=5, clean=0) is None


def test_levels_fit_the_source_without_upscaling():
    assert relay.fit(1280, 720, relay.LEVELS["hd"]) == (640, 360)
    assert relay.fit(1280, 720, relay.LEVELS["low"]) == (320, 180)
    assert relay.fit(720, 1280, relay.LEVELS["hd"]) == (202, 360)  # a phone held upright
    assert relay.fit(160, 90, relay.LEVELS["hd"]) == (160, 90)
