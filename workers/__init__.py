"""Celery only: the app, its queues, routes and beat schedule, and thin tasks.

``celery -A workers worker`` and ``celery -A workers flower`` find the app here.
"""

from __future__ import annotations

from workers.app import app

__all__ = ["app"]
