"""Invariants the coupon tests check after every storm, fault or interleaving."""

from coupons.models import Drop, DropState
from coupons.services import drops


def assert_gate_equals_database(drop: Drop) -> None:
    """Nothing pending, and the gate's coupons left (while open) and holders are the rows'."""
    drop.refresh_from_db()
    gate = drops.drop_gate(drop)
    left, unit_users = drops.gate_facts(drop)
    assert gate.pending_count() == 0
    if drop.state == DropState.OPEN:
        assert gate.left() == left
    assert gate.unit_users() == unit_users
