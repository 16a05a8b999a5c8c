"""Coupon writes: campaigns, drops, claims, and reconciling the gate with the database."""
