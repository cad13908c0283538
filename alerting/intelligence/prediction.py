"""Incident prediction: which alert patterns preceded a tenant's past critical alerts.

For each service, the model counts episodes of each signal (an alert type below critical
reaching N events within :data:`WINDOW`) in the tenant's history, and how many of them a
critical alert of that service followed within :data:`HORIZON`. The risk now is the smoothed
share of past episodes like the current one that a critical followed, taken from the signal
that drives it most; the note names that signal with its record ("in the past this preceded
db_down 4 times out of 5"). The model is small, explains itself, and is only as confident as
the tenant's own history allows (a Beta prior pulls rare patterns towards "unlikely").
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Seconds of alerts counted into a signal.
WINDOW = 600.0
#: Seconds ahead the risk is about: "a critical alert in the next 15 minutes".
HORIZON = 900.0
#: Event counts within WINDOW at which a signal's episode is recorded (one alert is no pattern).
LEVELS = (2, 3, 4, 6, 8, 12)
#: Beta prior of "a critical follows": one success in four, so a pattern seen once is not news.
PRIOR_HITS = 1.0
PRIOR_MISSES = 3.0
#: Fewer past critical incidents of a service than this: no model, and the status says so.
MIN_INCIDENTS = 3
#: Default risk above which a note is posted, and the rise that posts another.
DEFAULT_THRESHOLD = 0.5
RISE_STEP = 0.1

#: (seconds since the epoch, alert type, severity, service)
History = Iterable[tuple[float, str, str, str]]


@dataclass
class SignalRecord:
    episodes: int = 0
    preceded: int = 0
    #: Critical alert types that followed, with how often.
    followed_by: dict[str, int] = field(default_factory=dict)

    def risk(self) -> float:
        return (self.preceded + PRIOR_HITS) / (self.episodes + PRIOR_HITS + PRIOR_MISSES)


@dataclass
class ServiceModel:
    incidents: int
    #: (alert type, level) → record
    signals: dict[tuple[str, int], SignalRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "signals": [
                [t, k, r.episodes, r.preceded, r.followed_by]
                for (t, k), r in sorted(self.signals.items())
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceModel:
        model = cls(int(data["incidents"]))
        for t, k, episodes, preceded, followed in data["signals"]:
            model.signals[(t, int(k))] = SignalRecord(int(episodes), int(preceded), dict(followed))
        return model


@dataclass
class PredictionModel:
    services: dict[str, ServiceModel] = field(default_factory=dict)
    #: Services seen without enough history, with their number of past incidents.
    too_little: dict[str, int] = field(default_factory=dict)


def train(history: History, *, min_incidents: int = MIN_INCIDENTS) -> PredictionModel:
    by_service: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for at, alert_type, severity, service in history:
        by_service[service].append((at, alert_type, severity))
    model = PredictionModel()
    for service, rows in by_service.items():
        rows.sort()
        criticals = [(at, t) for at, t, sev in rows if sev == "critical"]
        if len(criticals) < min_incidents:
            model.too_little[service] = len(criticals)
            continue
        service_model = ServiceModel(len(criticals))
        by_type: dict[str, list[float]] = defaultdict(list)
        for at, alert_type, severity in rows:
            if severity != "critical":
                by_type[alert_type].append(at)
        for alert_type, times in by_type.items():
            for level, starts in _episodes(times).items():
                record = SignalRecord()
                for start in starts:
                    record.episodes += 1
                    after = _first_critical_after(criticals, start)
                    if after is not None:
                        record.preceded += 1
                        record.followed_by[after] = record.followed_by.get(after, 0) + 1
                service_model.signals[(alert_type, level)] = record
        model.services[service] = service_model
    return model


def _episodes(times: list[float]) -> dict[int, list[float]]:
    """When the count within WINDOW first reached each level, at most once per HORIZON."""
    recent: deque[float] = deque()
    last_start: dict[int, float] = {}
    starts: dict[int, list[float]] = defaultdict(list)
    for at in times:
        recent.append(at)
        while recent[0] <= at - WINDOW:
            recent.popleft()
        for level in LEVELS:
            if len(recent) < level:
                break
            if at - last_start.get(level, -1e18) >= HORIZON:
                last_start[level] = at
                starts[level].append(at)
    return starts


def _first_critical_after(criticals: list[tuple[float, str]], start: float) -> str | None:
    for at, alert_type in criticals:
        if start < at <= start + HORIZON:
            return alert_type
        if at > start + HORIZON:
            break
    return None


@dataclass(frozen=True)
class Signal:
    alert_type: str
    count: int
    episodes: int
    preceded: int
    followed_by: str


@dataclass(frozen=True)
class Risk:
    value: float
    signals: tuple[Signal, ...]


def risk_now(service_model: ServiceModel, counts: dict[str, int]) -> Risk:
    """The risk given each alert type's event count within the last WINDOW on the service."""
    found: list[tuple[float, Signal]] = []
    for alert_type, count in counts.items():
        # The highest level reached that history has seen (8 warnings when the past only
        # ever had 4 is still at least what 4 meant).
        record = next(
            (
                past
                for k in reversed(LEVELS)
                if k <= count
                and (past := service_model.signals.get((alert_type, k))) is not None
                and past.episodes
            ),
            None,
        )
        if record is None:
            continue
        followed = max(record.followed_by, key=lambda t: record.followed_by[t], default="")
        found.append(
            (record.risk(), Signal(alert_type, count, record.episodes, record.preceded, followed))
        )
    if not found:
        return Risk(0.0, ())
    found.sort(key=lambda pair: -pair[0])
    return Risk(found[0][0], tuple(s for _, s in found[:3]))


def should_note(risk: float, last_noted: float | None, threshold: float) -> bool:
    """A note when the risk crosses the threshold, another only when it rises further."""
    if risk < threshold:
        return False
    return last_noted is None or risk >= last_noted + RISE_STEP


def settled(risk: float, threshold: float) -> bool:
    """Low enough again that a later rise is news."""
    return risk < threshold / 2


@dataclass(frozen=True)
class Note:
    at: float
    service: str
    risk: Risk


class RiskTracker:
    """Replays alerts in order and says when a note would be posted (the bench and tests)."""

    def __init__(self, model: PredictionModel, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.model = model
        self.threshold = threshold
        self.recent: dict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self.noted: dict[str, float] = {}

    def observe(self, at: float, alert_type: str, severity: str, service: str) -> Iterator[Note]:
        service_model = self.model.services.get(service)
        if service_model is None:
            return
        recent = self.recent[service]
        if severity == "critical":
            # The incident is here: what preceded it is explained, the next rise is a new story.
            self.noted.pop(service, None)
            recent.clear()
            return
        recent.append((at, alert_type))
        while recent[0][0] <= at - WINDOW:
            recent.popleft()
        counts: dict[str, int] = defaultdict(int)
        for _, t in recent:
            counts[t] += 1
        risk = risk_now(service_model, counts)
        last = self.noted.get(service)
        if settled(risk.value, self.threshold):
            self.noted.pop(service, None)
        elif should_note(risk.value, last, self.threshold):
            self.noted[service] = risk.value
            yield Note(at, service, risk)
