"""What the registry does outside itself, in the real (Django) process: tell viewers about
the video (``session.state``), the host about its stream (``stream.health``), keep
recording rows, and free the session in Redis. Each runs off the event loop."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from server.groups import send_to_user_async
from server.publisher import publish_now
from server.redis import redis_client, session_tag
from streams import events
from streams.media import routing
from streams.media.db import on_db_thread
from streams.media.models import Recording, RecordingStatus
from streams.media.peers import QUALITIES, Hooks, SessionMedia
from streams.media.recorder import WebmRecorder
from streams.models import LiveSession, SessionStatus

VIDEO_KEY_TTL_S = 10


def video_key(session_id: int) -> str:
    return f"media:{session_tag(session_id)}:video"


def video_snapshot(session: LiveSession) -> dict[str, Any]:
    """The snapshot's ``video``: whether the host's picture is flowing, and how to play it."""
    on = redis_client().get(video_key(session.pk)) == b"1"
    return {"on": on, "whep": f"/api/sessions/{session.pk}/whep", "qualities": list(QUALITIES)}


class Part:
    """A recording part in progress: its row and its writer."""

    def __init__(self, row: Recording, recorder: WebmRecorder) -> None:
        self.row = row
        self.recorder = recorder
        self.sink_id = f"recording-{row.pk}"


class DjangoHooks(Hooks):
    async def video_changed(self, media: SessionMedia, on: bool) -> None:
        await on_db_thread(_video_changed)(media.session_id, on)

    async def health(self, media: SessionMedia, data: dict[str, Any]) -> None:
        if media.video_on:
            await asyncio.to_thread(
                redis_client().set, video_key(media.session_id), b"1", ex=VIDEO_KEY_TTL_S
            )
        await send_to_user_async(media.host_id, "stream.health", data)

    async def sessions_ended(self, session_ids: list[int]) -> list[int]:
        return await _not_live(session_ids)

    async def recording_start(self, media: SessionMedia) -> Part:
        row = await _recording_create(media.session_id, timezone.now())
        level = media.relay.levels["hd"]

        def shape() -> tuple[int, int]:
            codec = level.encoder.codec
            return (codec.width, codec.height) if codec is not None else (640, 360)

        recorder = WebmRecorder(
            Path(settings.MEDIA_ROOT) / row.file,
            video_shape=shape,
            audio_extradata=media.relay.audio_extradata,
        )
        part = Part(row, recorder)
        media.relay.add_sink(part.sink_id, "hd", recorder)
        return part

    async def recording_stop(self, media: SessionMedia, part: Part) -> None:
        media.relay.remove_sink(part.sink_id)
        await asyncio.to_thread(part.recorder.close)
        await _recording_finish(part, timezone.now())

    async def released(self, session_id: int) -> None:
        def release() -> None:
            routing.owner_release(session_id=session_id)
            redis_client().delete(video_key(session_id))

        await asyncio.to_thread(release)


def _video_changed(session_id: int, on: bool) -> None:
    client = redis_client()
    if on:
        client.set(video_key(session_id), b"1", ex=VIDEO_KEY_TTL_S)
    else:
        client.delete(video_key(session_id))
    status = LiveSession.objects.filter(pk=session_id).values_list("status", flat=True).first()
    # An ended session already said so; its video going away is no news.
    if status == SessionStatus.LIVE:
        publish_now(session_id, events.SessionState(status=status, video=on))


@on_db_thread
def _not_live(session_ids: list[int]) -> list[int]:
    live = set(
        LiveSession.objects.filter(pk__in=session_ids, status=SessionStatus.LIVE).values_list(
            "pk", flat=True
        )
    )
    return [s for s in session_ids if s not in live]


@on_db_thread
def _recording_create(session_id: int, now: datetime) -> Recording:
    last = Recording.objects.filter(session_id=session_id).order_by("-part").first()
    part = (last.part if last else 0) + 1
    name = f"recordings/session-{session_id}/part-{part:03d}-{now:%Y%m%dT%H%M%S}.webm"
    return Recording.objects.create(session_id=session_id, part=part, file=name, started_at=now)


@on_db_thread
def _recording_finish(part: Part, now: datetime) -> None:
    recorder = part.recorder
    path = Path(settings.MEDIA_ROOT) / part.row.file
    size = path.stat().st_size if path.exists() else 0
    Recording.objects.filter(pk=part.row.pk).update(
        status=RecordingStatus.COMPLETE if size and recorder.packets else RecordingStatus.FAILED,
        ended_at=now,
        duration_s=round(recorder.duration_s, 2),
        size_bytes=size,
        width=recorder.width,
        height=recorder.height,
    )
