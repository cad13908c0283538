"""Which Slack message goes first when messages compete for a channel's or a tenant's slots.

Lower is more urgent. Escalation pages and criticals share the top band, then errors,
warnings and infos; within one band the oldest waiting message goes first (the rate limiter
orders its waiting set by ``(priority, enqueue time)``).
"""

from __future__ import annotations

from enum import IntEnum

from alerting.domain.events import Severity
from alerting.domain.views import NotificationKind


class Priority(IntEnum):
    PAGE = 0  # escalation levels and criticals
    ERROR = 1
    WARNING = 2
    INFO = 3


_BY_SEVERITY = {
    Severity.CRITICAL: Priority.PAGE,
    Severity.ERROR: Priority.ERROR,
    Severity.WARNING: Priority.WARNING,
    Severity.INFO: Priority.INFO,
}

#: Lifecycle actions a person took: the urgent lane carries them so a click is never queued
#: behind the tenant's backlog of new events.
URGENT_ACTIONS = frozenset({"acknowledged", "resolved", "silenced"})


def priority_of(kind: NotificationKind | str, severity: Severity | str) -> Priority:
    """A notification's priority: its alert's severity, escalation levels at the top."""
    if NotificationKind(kind) is NotificationKind.ESCALATED:
        return Priority.PAGE
    return _BY_SEVERITY.get(Severity(severity), Priority.INFO)


def is_urgent_severity(severity: Severity | str) -> bool:
    """Critical and error events (and their routing and delivery) take the urgent lane."""
    return _BY_SEVERITY.get(Severity(severity), Priority.INFO) <= Priority.ERROR


def fold_band(severity: Severity | str) -> str:
    """Alerts fold into digests only with alerts of their band: criticals among themselves,
    so a critical is never folded behind warnings."""
    return "critical" if Severity(severity) is Severity.CRITICAL else "other"
