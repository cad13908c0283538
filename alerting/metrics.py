"""Prometheus metrics. Labels stay low-cardinality: tenant, outcome, method; never alert ids.

Workers and the web app are separate processes; with ``PROMETHEUS_MULTIPROC_DIR`` set (as
``alerting up`` and the compose file do) prometheus_client writes per-process files there and
``/metrics`` on the web app aggregates them.
"""

from __future__ import annotations

import os
import socket

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Files are named by process; the host name keeps containers that share the folder (and
    # may reuse pids) from writing into each other's files.
    _host = socket.gethostname()
    values.ValueClass = values.MultiProcessValue(lambda: f"{_host}_{os.getpid()}")  # type: ignore[no-untyped-call]

EVENTS = Counter(
    "alerting_events_total", "Alert events ingested, by what they did", ["tenant", "action"]
)
NOTIFICATIONS = Counter(
    "alerting_notifications_total",
    "Delivery attempts' outcomes (sent, retried, rerouted, dead)",
    ["tenant", "outcome"],
)
SLACK_LATENCY = Histogram(
    "alerting_slack_request_seconds",
    "Time of one request to Slack, in seconds",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES_UPDATED = Counter(
    "alerting_messages_updated_total", "Slack messages rewritten in place (chat.update)"
)
ESCALATIONS = Counter(
    "alerting_escalations_total",
    "Escalation steps (started, level, restarted, stopped, done)",
    ["tenant", "step"],
)
TIME_TO = Histogram(
    "alerting_time_to_seconds",
    "Seconds from an alert's first event to its acknowledgement or resolution",
    ["tenant", "transition"],
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
)
DIGESTS = Counter(
    "alerting_group_digests_total", "Group digests written (one per group update)", ["tenant"]
)
RATE_LIMIT_WAITS = Histogram(
    "alerting_rate_limit_wait_seconds",
    "Waits for a posting slot (channel and tenant token buckets), in seconds",
    ["tenant"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
ALERTMANAGER_ALERTS = Counter(
    "alerting_alertmanager_alerts_total",
    "Alerts accepted from Alertmanager's webhook (re-posts included), by their status",
    ["tenant", "status"],
)
INTEGRATION_CALLS = Counter(
    "alerting_integration_calls_total",
    "Calls to PagerDuty and ServiceNow, by outcome (sent, retried, waiting, dead)",
    ["tenant", "target", "outcome"],
)
MUTED = Counter(
    "alerting_alerts_muted_total",
    "Firing or repeated notifications held back (silence, maintenance, inhibition)",
    ["tenant", "reason"],
)
REJECTED = Counter("alerting_rejected_events_total", "Events refused at an edge, by edge", ["edge"])
REJECTED_MESSAGES = Counter(
    "alerting_rejected_messages_total",
    "Broker messages no task could run (kept as dead letters), by queue and reason",
    ["queue", "reason"],
)


FIRST_MESSAGE = Histogram(
    "alerting_first_message_seconds",
    "Seconds from an alert's publish to the first Slack message that told it, by severity",
    ["tenant", "severity"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300),
)
FOLDED = Counter(
    "alerting_messages_folded_total",
    "Alert messages folded into a digest because their channel's line was too long",
    ["tenant", "channel"],
)
WAITING = Gauge(
    "alerting_waiting_messages",
    "Messages waiting for a posting slot, per channel (as last seen by a worker)",
    ["tenant", "channel"],
    multiprocess_mode="mostrecent",
)
SLOT_WAITS = Histogram(
    "alerting_slot_wait_seconds",
    "Seconds a message stood in line for its slot (priority 0: pages and criticals)",
    ["tenant", "priority"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120),
)


def render_latest() -> tuple[bytes, str]:
    """The exposition text for ``/metrics``: all processes' metrics when multiprocess is on."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
