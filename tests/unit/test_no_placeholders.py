"""Messages never show a placeholder for a missing value: the phrase is left out instead.

Every built-in template, in every locale, for every kind of message, with all of its optional
values, without any, and without each one in turn.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from alerting.domain.events import Severity
from alerting.domain.views import AlertView, MessageOptions, NotificationKind
from alerting.i18n import SUPPORTED_LOCALES
from alerting.slack.formatter import SlackAlertFormatter
from alerting.slack.templates import BUILTIN_DIR

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
#: Labels the built-in templates name, each optional.
OPTIONAL_LABELS = {
    "host": "web-3",
    "instance": "10.0.0.7:9100",
    "mountpoint": "/var",
    "service": "checkout",
    "app": "checkout-app",
    "job": "node",
    "version": "1.4.2",
    "slo": "p99-300ms",
}
#: Other optional values of an alert, each with a value to give it.
OPTIONAL_VALUES: dict[str, object] = {
    "environment": "production",
    "source": "prometheus",
    "acknowledged_by": "alice",
    "resolved_by": "bob",
    "oncall": "<@U0ONCALL>",
}
#: What a placeholder looks like: a question mark or dash standing for a value, an empty
#: pair of brackets, a Python or Jinja leftover.
PLACEHOLDER = re.compile(r"\?|—|\bNone\b|%\(|\{\{|\{%|\(\)|\bundefined\b")
#: Every built-in template's type, and one without a template of its own (the default).
ALERT_TYPES = [*sorted(p.stem for p in BUILTIN_DIR.glob("*.j2") if p.stem != "default"), "other"]
KINDS = [k for k in NotificationKind if k is not NotificationKind.DIGEST]


def _variants() -> list[tuple[str, dict[str, str], dict[str, object]]]:
    everything = ("all", dict(OPTIONAL_LABELS), dict(OPTIONAL_VALUES))
    variants = [everything, ("none", {}, {})]
    for label in OPTIONAL_LABELS:
        labels = {k: v for k, v in OPTIONAL_LABELS.items() if k != label}
        variants.append((f"without label {label}", labels, dict(OPTIONAL_VALUES)))
        variants.append((f"only label {label}", {label: OPTIONAL_LABELS[label]}, {}))
    for value in OPTIONAL_VALUES:
        others = {k: v for k, v in OPTIONAL_VALUES.items() if k != value}
        variants.append((f"without {value}", dict(OPTIONAL_LABELS), others))
    return variants


def _view(
    alert_type: str, severity: Severity, labels: dict[str, str], values: dict[str, object]
) -> AlertView:
    return AlertView(
        alert_id="00000000-0000-0000-0000-000000000001",
        tenant_id="t",
        tenant_name="Tenant",
        alert_type=alert_type,
        severity=severity,
        message="Usage is high",
        status="firing",
        environment=values.get("environment"),  # type: ignore[arg-type]
        labels=labels,
        annotations={},
        source=values.get("source"),  # type: ignore[arg-type]
        count=3,
        first_seen_at=NOW - timedelta(minutes=5),
        last_seen_at=NOW,
        acknowledged_by=values.get("acknowledged_by"),  # type: ignore[arg-type]
        resolved_by=values.get("resolved_by"),  # type: ignore[arg-type]
        resolved_at=NOW,
        oncall=values.get("oncall"),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def formatter() -> SlackAlertFormatter:
    return SlackAlertFormatter()


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("alert_type", ALERT_TYPES)
def test_no_placeholder_in_any_message(
    formatter: SlackAlertFormatter, alert_type: str, locale: str
) -> None:
    checked = 0
    for name, labels, values in _variants():
        for severity in (Severity.CRITICAL, Severity.WARNING):
            view = _view(alert_type, severity, labels, values)
            for kind in KINDS:
                payload = formatter.format(view, kind, MessageOptions(locales=(locale,)))
                shown = json.dumps(payload, ensure_ascii=False)
                found = PLACEHOLDER.search(shown)
                assert found is None, (
                    f"{alert_type} {locale} {kind} {severity} {name}: {found.group()!r} in "
                    f"{shown[max(0, found.start() - 80) : found.end() + 40]!r}"
                )
                reply = formatter.thread_reply(view, kind, locale)
                assert PLACEHOLDER.search(reply) is None, (alert_type, locale, kind, name, reply)
                checked += 1
    assert checked > 100


def test_the_check_catches_a_placeholder() -> None:
    assert PLACEHOLDER.search("CPU au-dessus du seuil sur ?")
