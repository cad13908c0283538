from __future__ import annotations

import pytest

from alerting.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        ("30", 30.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("500ms", 0.5),
        (" 4h ", 14400.0),
    ],
)
def test_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "h", "1h 30", "-5", -1, True, None])
def test_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_round_trips() -> None:
    for seconds in (0.5, 1, 59, 300, 5400, 90061):
        assert parse_duration(format_duration(seconds)) == seconds
