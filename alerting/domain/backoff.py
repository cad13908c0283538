"""Retry countdowns for transient delivery failures."""

from __future__ import annotations

import random

#: Shortest countdown ever returned, in seconds: a zero countdown would retry in a hot loop.
MIN_COUNTDOWN_SECONDS = 0.1


def retry_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """Upper bound of the countdown after failed attempt ``attempt`` (counting from 1)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return float(min(cap, base * (2 ** (attempt - 1))))


def retry_countdown(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Capped exponential backoff with full jitter: uniform in ``[0, ceiling]``.

    Full jitter spreads a herd of failing deliveries (a Slack outage hits every tenant at once)
    over the whole window instead of retrying them in synchronised waves.
    """
    ceiling = retry_ceiling(attempt, base=base, cap=cap)
    pick = (rng or random).uniform(0.0, ceiling)
    return round(max(MIN_COUNTDOWN_SECONDS, pick), 3)
