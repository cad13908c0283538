"""Correlation: each firing alert joins the open incident it scores best with, or opens one.

The score of an alert against an open incident is a weighted sum of five signals, each 0-1:

- time: ``exp(-gap / (window / 3))``, the gap being how far the alert's ``occurred_at`` lies
  outside the span of the incident's members (0 inside it);
- labels: the best Jaccard similarity of the alert's label pairs with a member's (smoothed:
  one more pair in the union), leaving out the service, the type and per-instance labels;
- type: whether a member has the same ``alert_type``;
- message: the best rapidfuzz ratio of the alert's masked template with a member's;
- topology: 1 when the alert's service is a member's, or depends directly on one, or one depends
  directly on it (the tenant's ``topology:`` block), in the same placement (cluster,
  environment...), fading once that member's service has failed for ``TOPOLOGY_ONSET``.

Corrections feed back: a split records the two sides' (service, alert type) signatures as
apart, a merge as together; an incident holding a signature the alert's is apart from loses
``FEEDBACK_WEIGHT``, one holding a signature it is together with gains it.

The alert joins the best-scoring incident when that score reaches the tenant's threshold.
Without a topology the other signals share its weight (what the alerts say weighing most), so
that a tenant without one is scored on the same 0-1 scale.

Everything here is pure: state is passed in and returned (see ``CorrelationState``), so the
benchmark and the service run the same code, the service loading the open incidents from
PostgreSQL inside the transaction that assigns.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerting.intelligence.correlation_config import CorrelationConfig, TopologyConfig
from alerting.intelligence.correlation_text import best_template_similarity, message_template

#: Weights of the signals when the tenant has a topology; they sum to 1.
WEIGHTS_WITH_TOPOLOGY: Mapping[str, float] = {
    "time": 0.15,
    "labels": 0.15,
    "type": 0.10,
    "message": 0.20,
    "topology": 0.40,
}
#: Weights without a topology.
WEIGHTS_WITHOUT_TOPOLOGY: Mapping[str, float] = {
    # Concurrency alone says little when nothing tells what depends on what: what the alerts
    # say (type, template) weighs most.
    "time": 0.10,
    "labels": 0.20,
    "type": 0.30,
    "message": 0.40,
    "topology": 0.0,
}
#: Seconds after a service starts failing during which its neighbours failing count fully as
#: the same failure; later the topology signal halves about every 0.7 x this.
TOPOLOGY_ONSET = 300.0
#: Factor on the score of an alert whose service the topology knows but links to no member's.
UNLINKED_FACTOR = 0.6
#: Score added (together) or taken away (apart) by a user's earlier correction.
FEEDBACK_WEIGHT = 0.5
#: Distinct label sets of an incident compared with a new alert; the most recent ones.
MAX_LABEL_SETS = 32
#: Labels that name a single event rather than what fails: left out of label similarity.
VOLATILE_LABELS = frozenset({"instance", "pod", "host", "container", "request_id", "trace_id"})
#: Labels that say where a service runs: a dependency links two alerts only where these agree
#: (the api in one cluster does not call the database of another).
PLACEMENT_LABELS = ("cluster", "environment", "env", "region", "zone", "datacenter", "namespace")


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """What correlation needs to know of one firing alert."""

    alert_id: str
    #: Seconds since the epoch: the event's ``occurred_at``, else when it was received.
    at: float
    alert_type: str
    severity_rank: int
    labels: Mapping[str, str]
    message: str


@dataclass(slots=True)
class Member:
    alert_id: str
    at: float
    alert_type: str
    severity_rank: int
    service: str | None
    template: str
    label_pairs: frozenset[tuple[str, str]]
    #: The values of PLACEMENT_LABELS (None where the alert has no such label).
    placement: tuple[str | None, ...] = ()


def signature(service: str | None, alert_type: str) -> str:
    """What feedback remembers of an alert: its service and its type."""
    return f"{service or '-'}|{alert_type}"


@dataclass(slots=True)
class IncidentState:
    """One open incident as the scorer sees it."""

    incident_id: str
    first_at: float
    last_at: float
    members: list[Member] = field(default_factory=list)
    services: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    templates: Counter[str] = field(default_factory=Counter)
    signatures: set[str] = field(default_factory=set)
    label_sets: dict[frozenset[tuple[str, str]], None] = field(default_factory=dict)
    #: (service, placement) of the members -> when that service first failed in the incident.
    placed_services: dict[tuple[str, tuple[str | None, ...]], float] = field(default_factory=dict)

    def add(self, member: Member) -> None:
        self.members.append(member)
        self.first_at = min(self.first_at, member.at)
        self.last_at = max(self.last_at, member.at)
        if member.service is not None:
            self.services[member.service] += 1
            key = (member.service, member.placement)
            self.placed_services[key] = min(self.placed_services.get(key, member.at), member.at)
        self.types[member.alert_type] += 1
        self.templates[member.template] += 1
        self.signatures.add(signature(member.service, member.alert_type))
        self.label_sets.pop(member.label_pairs, None)
        self.label_sets[member.label_pairs] = None
        if len(self.label_sets) > MAX_LABEL_SETS:
            del self.label_sets[next(iter(self.label_sets))]


@dataclass(slots=True)
class Feedback:
    """A tenant's corrections: pairs of signatures users kept apart or put together."""

    apart: set[frozenset[str]] = field(default_factory=set)
    together: set[frozenset[str]] = field(default_factory=set)

    def record(self, kind: str, left: Iterable[str], right: Iterable[str]) -> None:
        target = self.apart if kind == "apart" else self.together
        other = self.together if kind == "apart" else self.apart
        right_list = list(right)
        for a in left:
            for b in right_list:
                if a != b:
                    pair = frozenset((a, b))
                    target.add(pair)
                    other.discard(pair)


@dataclass(slots=True)
class CorrelationState:
    """A tenant's open incidents, by id."""

    open: dict[str, IncidentState] = field(default_factory=dict)

    def expire(self, now: float, window: float) -> list[str]:
        """Forget incidents that take no more members; their ids."""
        gone = [i for i, inc in self.open.items() if inc.last_at + window < now]
        for incident_id in gone:
            del self.open[incident_id]
        return gone


@dataclass(frozen=True, slots=True)
class Assignment:
    #: The incident joined, or None: the alert opens a new incident.
    incident_id: str | None
    score: float
    #: Why the alert joined (or why it opened an incident), for people.
    reason: str
    member: Member


class Topology:
    """The dependency graph of a tenant's ``topology:`` block."""

    def __init__(self, config: TopologyConfig) -> None:
        self.label = config.label
        self.depends_on: dict[str, frozenset[str]] = {
            service: frozenset(deps) for service, deps in config.depends_on.items()
        }
        neighbours: dict[str, set[str]] = {}
        for service, deps in self.depends_on.items():
            for dep in deps:
                neighbours.setdefault(service, set()).add(dep)
                neighbours.setdefault(dep, set()).add(service)
        self._neighbours = {s: frozenset(n) for s, n in neighbours.items()}
        self._reach_cache: dict[str, frozenset[str]] = {}

    def knows(self, service: str) -> bool:
        return service in self._neighbours

    def adjacent(self, a: str, b: str) -> bool:
        """Whether one of the two services depends directly on the other."""
        return b in self._neighbours.get(a, ())

    def dependencies(self, service: str) -> frozenset[str]:
        """Every service ``service`` depends on, directly or not."""
        cached = self._reach_cache.get(service)
        if cached is not None:
            return cached
        seen: set[str] = set()
        stack = list(self.depends_on.get(service, ()))
        while stack:
            dep = stack.pop()
            if dep not in seen:
                seen.add(dep)
                stack.extend(self.depends_on.get(dep, ()))
        result = frozenset(seen)
        self._reach_cache[service] = result
        return result

    def link(self, service: str, other: str) -> str:
        """How two services relate, for a reason: "api depends on db"."""
        if other in self.dependencies(service):
            return f"{service} depends on {other}"
        return f"{other} depends on {service}"


@dataclass(frozen=True, slots=True)
class RootCause:
    service: str | None
    alert_type: str
    #: 0-1: the share of the incident's services that depend on the root cause (or are it).
    confidence: float


class Correlator:
    """Scores alerts against a tenant's open incidents. One per tenant configuration."""

    def __init__(
        self,
        config: CorrelationConfig,
        topology: TopologyConfig | None = None,
        feedback: Feedback | None = None,
    ) -> None:
        self.window = config.window
        self.threshold = config.threshold
        self.topology = Topology(topology) if topology is not None else None
        self.service_label = topology.label if topology is not None else "service"
        self.weights = WEIGHTS_WITH_TOPOLOGY if self.topology else WEIGHTS_WITHOUT_TOPOLOGY
        self.feedback = feedback or Feedback()

    def member(self, alert: AlertSignal) -> Member:
        return Member(
            alert_id=alert.alert_id,
            at=alert.at,
            alert_type=alert.alert_type,
            severity_rank=alert.severity_rank,
            service=alert.labels.get(self.service_label),
            template=message_template(alert.message),
            # The service and the type have their own signals; counted again here they would
            # make every alert of a service look alike.
            label_pairs=frozenset(
                (k, v)
                for k, v in alert.labels.items()
                if k not in VOLATILE_LABELS and k not in (self.service_label, "alertname")
            ),
            placement=tuple(alert.labels.get(k) for k in PLACEMENT_LABELS),
        )

    def assign(self, alert: AlertSignal, state: CorrelationState) -> Assignment:
        """The incident the alert joins (or None for a new one). Does not change ``state``."""
        member = self.member(alert)
        best: tuple[float, IncidentState, list[str]] | None = None
        for incident in state.open.values():
            scored = self._score(member, incident)
            if scored is not None and (best is None or scored[0] > best[0]):
                best = (scored[0], incident, scored[1])
        if best is not None and best[0] >= self.threshold:
            score, incident, reasons = best
            return Assignment(incident.incident_id, score, "; ".join(reasons), member)
        score = best[0] if best is not None else 0.0
        return Assignment(None, score, "no open incident scored high enough", member)

    def _score(self, member: Member, incident: IncidentState) -> tuple[float, list[str]] | None:
        if (
            member.at > incident.last_at + self.window
            or member.at < incident.first_at - self.window
        ):
            return None
        w = self.weights
        reasons: list[str] = []
        gap = max(0.0, member.at - incident.last_at, incident.first_at - member.at)
        time_score = math.exp(-gap / (self.window / 3.0))
        type_score = 1.0 if member.alert_type in incident.types else 0.0
        message_score, matched = best_template_similarity(member.template, list(incident.templates))
        label_score = max(
            (_jaccard(member.label_pairs, pairs) for pairs in incident.label_sets), default=0.0
        )
        topology_score = 0.0
        link: str | None = None
        if self.topology is not None and member.service is not None:
            for (service, placement), began in incident.placed_services.items():
                if not _same_place(member.placement, placement):
                    continue
                if service != member.service and not self.topology.adjacent(
                    member.service, service
                ):
                    continue
                # A failure spreads to what depends on it within minutes of its start; a
                # neighbour failing much later is more likely a failure of its own.
                late = max(0.0, member.at - began - TOPOLOGY_ONSET)
                linked = math.exp(-late / TOPOLOGY_ONSET)
                if linked > topology_score:
                    topology_score = linked
                    link = (
                        f"same service {service}"
                        if service == member.service
                        else self.topology.link(member.service, service)
                    )
        score = (
            w["time"] * time_score
            + w["labels"] * label_score
            + w["type"] * type_score
            + w["message"] * message_score
            + w["topology"] * topology_score
        )
        if (
            self.topology is not None
            and topology_score == 0.0
            and member.service is not None
            and self.topology.knows(member.service)
        ):
            # The tenant said what depends on what, and nothing here touches this service:
            # alike alerts on unrelated services are different failures.
            score *= UNLINKED_FACTOR
        own = signature(member.service, member.alert_type)
        pairs = {frozenset((own, other)) for other in incident.signatures if other != own}
        if pairs & self.feedback.apart:
            score -= FEEDBACK_WEIGHT
            reasons.append("kept apart from such alerts by a correction")
        elif pairs & self.feedback.together:
            score += FEEDBACK_WEIGHT
            reasons.append("put together with such alerts by a correction")
        if matched is not None and message_score >= 0.8:
            count = incident.templates[matched]
            what = "same template" if message_score == 1.0 else "similar message"
            reasons.append(f"{what} as {count} member{'s' if count != 1 else ''}")
        elif type_score:
            reasons.append(f"same type as {incident.types[member.alert_type]} members")
        offset = member.at - incident.first_at
        reasons.append(f"{abs(offset):.0f} s {'after' if offset >= 0 else 'before'} the first")
        if link is not None:
            reasons.append(link)
        if label_score >= 0.5:
            reasons.append(f"labels {label_score:.0%} alike")
        return score, reasons

    def root_cause(self, incident: IncidentState) -> RootCause:
        """The deepest failing dependency: a member's service none of whose dependencies fail,
        that most of the others depend on; earliest first on a tie."""
        first_by_service: dict[str, Member] = {}
        for m in sorted(incident.members, key=lambda m: m.at):
            if m.service is not None:
                first_by_service.setdefault(m.service, m)
        first = min(incident.members, key=lambda m: m.at)
        if self.topology is None or not first_by_service:
            share = 1.0 / max(1, len(first_by_service))
            return RootCause(first.service, first.alert_type, share)
        failing = set(first_by_service)
        topology = self.topology

        def explained(service: str) -> int:
            return sum(1 for other in failing if service in topology.dependencies(other))

        candidates = [s for s in failing if not (topology.dependencies(s) & failing)]
        root = max(
            candidates or list(failing),
            key=lambda s: (explained(s), -first_by_service[s].at),
        )
        confidence = (1 + explained(root)) / len(failing)
        return RootCause(root, first_by_service[root].alert_type, confidence)

    def title(self, incident: IncidentState) -> str:
        cause = self.root_cause(incident)
        head = f"{cause.service}: {cause.alert_type}" if cause.service else cause.alert_type
        others = len(incident.services) - (1 if cause.service in incident.services else 0)
        return head + (f" (+{others} services)" if others > 0 else "")


def _same_place(a: tuple[str | None, ...], b: tuple[str | None, ...]) -> bool:
    """No placement label that both have differs."""
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=False))


def _jaccard(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> float:
    # Smoothed (one more in the union): sharing the only label, say `cluster`, is weaker
    # evidence than sharing five of five.
    return len(a & b) / (len(a | b) + 1)


def apply(state: CorrelationState, assignment: Assignment, new_incident_id: str) -> str:
    """Record the assignment in ``state``; the incident's id."""
    member = assignment.member
    incident_id = assignment.incident_id or new_incident_id
    incident = state.open.get(incident_id)
    if incident is None:
        incident = IncidentState(incident_id, member.at, member.at)
        state.open[incident_id] = incident
    incident.add(member)
    return incident_id
