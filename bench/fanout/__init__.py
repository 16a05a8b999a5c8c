"""Fan-out benchmark: one live session, N WebSocket viewers, our path against baselines.

Run ``python -m bench.fanout --help``; results and how to read them are in
docs/benchmarks.md, section "Fan-out (live channel)".
"""
