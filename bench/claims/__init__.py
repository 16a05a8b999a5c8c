"""Claim-storm benchmark: N WebSocket clients race for a drop of coupons, our gate path
against a row-lock baseline and the bare Lua script.

Run ``python -m bench.claims --help``; results and how to read them are in
docs/benchmarks.md, section "Coupon claims (the gate)". The light client
(``bench.claims.client``) is also what tests/integration/test_coupon_storm.py drives.
"""
