"""Talad Live's Django project and shared kernel (errors, redis, gates, publisher)."""

from server.celery import app as celery_app

__all__ = ("celery_app",)
