"""The correlation scorer, without services: templates, signals, root cause, feedback, config."""

from __future__ import annotations

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.tenants import parse_tenant
from alerting.intelligence.correlation import (
    AlertSignal,
    CorrelationState,
    Correlator,
    Feedback,
    apply,
    signature,
)
from alerting.intelligence.correlation_config import CorrelationConfig, TopologyConfig
from alerting.intelligence.correlation_text import message_template

TOPOLOGY = TopologyConfig(
    depends_on={
        "checkout": ["payments", "inventory"],
        "payments": ["orders-db"],
        "search": ["search-index"],
    }
)


def _alert(n: int, service: str, alert_type: str, message: str, at: float) -> AlertSignal:
    return AlertSignal(
        alert_id=str(n),
        at=at,
        alert_type=alert_type,
        severity_rank=2,
        labels={"service": service, "cluster": "eu-1", "instance": f"{service}-{n}"},
        message=message,
    )


def _replay(
    correlator: Correlator, alerts: list[AlertSignal]
) -> tuple[list[str], CorrelationState]:
    state = CorrelationState()
    placed = []
    for index, alert in enumerate(alerts):
        assignment = correlator.assign(alert, state)
        placed.append(apply(state, assignment, f"incident-{index}"))
    return placed, state


def test_variable_tokens_are_masked_so_alike_messages_share_a_template() -> None:
    assert message_template("disk 91% on db-3") == message_template("disk 97% on db-7")
    assert message_template("request 7f9c3a2b failed at 10.0.0.3:5432 after 30s") == (
        "request <HEX> failed at <IP> after <DURATION>"
    )
    assert message_template("disk 91% on db-3") != message_template("queue 91 deep on mq-3")


def test_a_cascade_is_one_incident_whose_root_cause_is_the_deepest_failing_dependency() -> None:
    correlator = Correlator(CorrelationConfig(enabled=True), TOPOLOGY)
    placed, state = _replay(
        correlator,
        [
            _alert(1, "orders-db", "db_down", "connection refused by 10.1.2.3", 0),
            _alert(2, "payments", "error_rate", "5xx 12% on payments-7f9c", 40),
            _alert(3, "checkout", "latency", "p99 2300ms on checkout-2", 80),
            # Same type, unrelated service: another failure.
            _alert(4, "search", "error_rate", "5xx 12% on search-1", 90),
        ],
    )
    assert placed[0] == placed[1] == placed[2] != placed[3]
    cause = correlator.root_cause(state.open[placed[0]])
    assert (cause.service, cause.alert_type, cause.confidence) == ("orders-db", "db_down", 1.0)
    assert correlator.title(state.open[placed[0]]) == "orders-db: db_down (+2 services)"


def test_reasons_say_why_an_alert_joined() -> None:
    correlator = Correlator(CorrelationConfig(enabled=True), TOPOLOGY)
    state = CorrelationState()
    apply(
        state, correlator.assign(_alert(1, "orders-db", "disk", "disk 91% on db-3", 0), state), "i"
    )
    joined = correlator.assign(_alert(2, "payments", "disk", "disk 97% on db-7", 40), state)
    assert joined.incident_id == "i"
    assert joined.reason.startswith("same template as 1 member; 40 s after the first")
    assert "payments depends on orders-db" in joined.reason


def test_an_alert_after_the_window_opens_a_new_incident() -> None:
    correlator = Correlator(CorrelationConfig(enabled=True, window=60), TOPOLOGY)
    placed, _ = _replay(
        correlator,
        [
            _alert(1, "orders-db", "disk", "disk 91% on db-3", 0),
            _alert(2, "orders-db", "disk", "disk 92% on db-3", 61),
        ],
    )
    assert placed[0] != placed[1]


def test_without_topology_text_type_and_labels_still_correlate() -> None:
    correlator = Correlator(CorrelationConfig(enabled=True))
    placed, _ = _replay(
        correlator,
        [
            _alert(1, "orders-db", "disk", "disk 91% on db-3", 0),
            _alert(2, "orders-db", "disk", "disk 97% on db-7", 30),
            _alert(3, "mail", "cert_expiry", "certificate for mail expires in 3 days", 40),
        ],
    )
    assert placed[0] == placed[1] != placed[2]


def test_a_split_keeps_such_alerts_apart_and_a_merge_brings_them_together() -> None:
    alerts = [
        _alert(1, "orders-db", "db_down", "connection refused by 10.1.2.3", 0),
        _alert(2, "payments", "error_rate", "5xx 12% on payments-7f9c", 40),
    ]
    apart = Feedback()
    apart.record(
        "apart", [signature("payments", "error_rate")], [signature("orders-db", "db_down")]
    )
    placed, _ = _replay(Correlator(CorrelationConfig(enabled=True), TOPOLOGY, apart), alerts)
    assert placed[0] != placed[1]

    unrelated = [
        _alert(1, "mail", "cert_expiry", "certificate for mail expires in 3 days", 0),
        _alert(2, "search", "index_lag", "index 40 minutes behind", 30),
    ]
    placed, _ = _replay(Correlator(CorrelationConfig(enabled=True), TOPOLOGY), unrelated)
    assert placed[0] != placed[1]
    together = Feedback()
    together.record(
        "together", [signature("search", "index_lag")], [signature("mail", "cert_expiry")]
    )
    placed, _ = _replay(Correlator(CorrelationConfig(enabled=True), TOPOLOGY, together), unrelated)
    assert placed[0] == placed[1]


def _tenant(**blocks: object) -> dict[str, object]:
    return {
        "tenant_id": "t",
        "name": "T",
        "slack_config": {"default_channel": "#a"},
        **blocks,
    }


def test_the_tenant_blocks_read_as_the_issue_writes_them() -> None:
    config = parse_tenant(
        _tenant(
            correlation={"enabled": True, "window": "10m"},
            topology={
                "label": "service",
                "depends_on": {"checkout": ["payments", "inventory"], "payments": ["orders-db"]},
            },
        ),
        where="t.yaml",
    )
    assert config.correlation.enabled and config.correlation.window == 600
    assert config.topology is not None and config.topology.depends_on["payments"] == ["orders-db"]
    assert not parse_tenant(_tenant(), where="t.yaml").correlation.enabled


@pytest.mark.parametrize(
    ("blocks", "field", "reason"),
    [
        ({"correlation": {"window": "soon"}}, "correlation.window", "not a duration"),
        ({"correlation": {"window": 0}}, "correlation.window", "longer than zero"),
        ({"correlation": {"enable": True}}, "correlation.enable", "unknown field"),
        ({"topology": {"depends_on": {"a": ["a"]}}}, "topology", "cannot depend on itself"),
        ({"topology": {"depends_on": {"a": "b"}}}, "topology.depends_on.a", "valid list"),
    ],
)
def test_bad_blocks_name_the_field_and_the_reason(
    blocks: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_tenant(_tenant(**blocks), where="t.yaml")
    problems = dict(caught.value.problems)
    assert any(key.startswith(field) and reason in text for key, text in problems.items()), problems
