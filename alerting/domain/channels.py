"""Slack channel names and ids as tenants write them."""

from __future__ import annotations

import re

#: A channel name (``#alerts-prod``) or a channel id (``C0123ABCD``).
CHANNEL_RE = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{6,20})$")


def check_channel(value: str) -> str:
    if not CHANNEL_RE.match(value):
        raise ValueError(
            f"{value!r} is not a channel: use '#name' (lowercase, digits, '-', '_', '.') "
            "or a channel id such as C0123ABCD"
        )
    return value
