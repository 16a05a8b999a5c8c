"""Fan-out benchmark: one live session, N WebSocket viewers, our path against baselines.

Run ``python -m bench.fanout --help``; results and how to read them are in
docs/benchmarks.md, section "Fan-out (live channel)".
"""


def session_group(session_id: int) -> str:
    """The channel-layer group of the ``group`` baseline (``group_app``); the product
    itself broadcasts through ``server.fanout``, with no group per session."""
    return f"session.{session_id}"
