"""Live video over WebRTC: WHIP ingest, WHEP playback, the encode-once relay, recording,
stream health (docs/video.md). Runs in the ``media`` process (``server.media_asgi``)."""
