"""Durations as operators write them: ``30`` (seconds), ``"90s"``, ``"5m"``, ``"4h"``, ``"1h30m"``,
``"2d"``. One parser for tenant files, the CLI and the HTTP API."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """Seconds; ValueError names the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '5m', '1h30m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _PART_RE.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    f"{value!r} is not a duration: write seconds or e.g. '90s', '5m', '4h', "
                    "'1h30m', '2d'"
                )
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("a duration is a number of seconds or a string such as '5m', '1h30m'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The short form back: 5400 → '1h30m'."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds else "0s"
    out = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


#: A duration field in a pydantic model, stored as seconds.
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
