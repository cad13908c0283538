"""The silence index finds exactly the silence a check of every silence in order would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.domain.matchers import Matcher, matches_all
from alerting.domain.silence_index import IndexedSilence, SilenceIndex

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NAMES = ["team", "host", "alert_type", "severity"]
VALUES = ["", "db", "web", "disk_*", "critical"]

matcher = st.builds(
    lambda name, op, value: Matcher.parse(f'{name}{op}"{value}"'),
    st.sampled_from(NAMES),
    st.sampled_from(["=", "!=", "=~", "!~"]),
    st.sampled_from(VALUES),
)
silence = st.builds(
    lambda matchers, start, length: IndexedSilence(
        uuid.uuid4(),
        NOW + timedelta(minutes=start),
        NOW + timedelta(minutes=start + length),
        tuple(matchers),
    ),
    st.lists(matcher, min_size=1, max_size=3),
    st.integers(-10, 5),
    st.integers(1, 20),
)
facts = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(["db", "web", "disk_full", ""]))


@settings(max_examples=300)
@given(silences=st.lists(silence, max_size=12), alert=facts)
def test_first_match_is_the_first_active_matching_silence(
    silences: list[IndexedSilence], alert: dict[str, str]
) -> None:
    expected = next(
        (s for s in silences if s.starts_at <= NOW < s.ends_at and matches_all(s.matchers, alert)),
        None,
    )
    assert SilenceIndex(silences).first_match(alert, NOW) == expected


def test_thousands_of_silences_check_only_their_candidates() -> None:
    silences = [
        IndexedSilence(
            uuid.uuid4(), NOW, NOW + timedelta(hours=1), (Matcher.parse(f'host="h{i}"'),)
        )
        for i in range(10_000)
    ]
    index = SilenceIndex(silences)
    assert index.first_match({"host": "h9999"}, NOW) == silences[-1]
    assert index.first_match({"host": "other"}, NOW) is None
