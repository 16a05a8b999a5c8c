"""Telling buyers and sellers what happened to their orders, in their own language."""
