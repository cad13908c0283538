"""SlackTemplateEngine: built-ins per type, conditional parts, tenant overrides and safety."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from alerting.domain.events import Severity
from alerting.domain.views import MessageOptions, NotificationKind
from alerting.slack.formatter import MAX_BLOCKS, MAX_SECTION_CHARS, SlackAlertFormatter
from alerting.slack.templates import SlackTemplateEngine, _samples

BASE = _samples()[0]  # critical, production, labels host=web-1 service=api


def view(**changes: object):  # type: ignore[no-untyped-def]
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def test_a_template_per_type_in_each_language() -> None:
    engine = SlackTemplateEngine()
    assert engine.render(view(alert_type="high_cpu"), "en").title == "CPU above threshold on web-1"
    assert (
        engine.render(view(alert_type="high_cpu"), "fr").title == "CPU au-dessus du seuil sur web-1"
    )
    assert (
        engine.render(view(alert_type="disk_full"), "de").title == "Festplatte fast voll auf web-1"
    )
    other = engine.render(view(alert_type="queue_depth"), "en")
    assert other.title == "queue_depth (production)" and "tenant" in other.fields


def test_conditional_parts_follow_severity_and_environment() -> None:
    engine = SlackTemplateEngine()
    prod_critical = engine.render(view(alert_type="high_cpu"), "en")
    assert "page the on-call" in prod_critical.note
    staging_warning = engine.render(
        view(alert_type="high_cpu", severity=Severity.WARNING, environment="staging"), "en"
    )
    assert staging_warning.fields == () and staging_warning.note == ""


def test_alert_text_is_data_never_template_code() -> None:
    payload = SlackAlertFormatter().format(
        view(message="{{ 7*7 }} {% for x in y %} <!channel> & *bold*", labels={"x": "{{ 1+1 }}"}),
        NotificationKind.FIRING,
    )
    flat = str(payload["blocks"])
    assert "{{ 7*7 }} {% for x in y %} &lt;!channel&gt; &amp; *bold*" in flat
    assert "{{ 1+1 }}" in flat
    # Only the blocks that carry the alert's text: the others show times, where "49" is a
    # minute like any other.
    told = [str(block) for block in payload["blocks"] if "{{" in str(block)]
    assert told and not any("49" in block for block in told)


def _override(tmp_path: Path, tenant: str, name: str, source: str) -> Path:
    folder = tmp_path / tenant / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.j2"
    path.write_text(source)
    return path


def test_a_tenant_override_is_used(tmp_path: Path) -> None:
    _override(
        tmp_path,
        "acme",
        "high_cpu",
        '{% set title = "ACME CPU " ~ alert.labels.host %}'
        '{% set summary = alert.message %}{% set fields = ["count"] %}{% set note = "" %}',
    )
    engine = SlackTemplateEngine(tmp_path)
    assert (
        engine.render(view(tenant_id="acme", alert_type="high_cpu"), "en").title == "ACME CPU web-1"
    )
    # Other tenants keep the built-in.
    assert engine.render(view(tenant_id="other", alert_type="high_cpu"), "en").title.startswith(
        "CPU"
    )


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("{% set title = 'x' %}\n{% if %}", 2, "syntax error"),
        (
            "{% set title = 'x' %}\n{% set summary = secrets.token %}",
            2,
            "unknown variable 'secrets'",
        ),
        ("{% set title = alert.__class__.__mro__ %}", None, "unsafe construct"),
        ("{% set title = alert.labels.missing_key.upper() %}", None, "UndefinedError"),
        ("{% set fields = ['shoe_size'] %}", None, "unknown field 'shoe_size'"),
    ],
)
def test_a_broken_override_is_reported_and_the_builtin_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, source: str, line: int | None, reason: str
) -> None:
    path = _override(tmp_path, "acme", "high_cpu", source)
    engine = SlackTemplateEngine(tmp_path)
    (problem,) = engine.check()
    assert (problem.tenant_id, problem.path) == ("acme", str(path))
    assert reason in problem.reason
    if line is not None:
        assert problem.line == line
    with caplog.at_level(logging.WARNING):
        rendered = engine.render(view(tenant_id="acme", alert_type="high_cpu"), "en")
    assert rendered.title == "CPU above threshold on web-1", "the built-in template serves"
    assert f"tenant acme: {path}" in caplog.text


def test_bilingual_messages_stay_within_slack_limits() -> None:
    big = view(
        alert_type="service_down",
        message="x" * 8000,
        labels={f"l{i}": "v" * 1024 for i in range(64)},
    )
    payload = SlackAlertFormatter().format(
        big, NotificationKind.FIRING, MessageOptions(locales=("fr", "en"), interactive=True)
    )
    assert len(payload["blocks"]) <= MAX_BLOCKS
    for block in payload["blocks"]:
        if block.get("text"):
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
    flat = str(payload["blocks"])
    assert "Service indisponible" in flat and "Service down" in flat
    assert "(message tronqué)" in flat


def test_templates_check_command_lists_every_problem(tmp_path: Path) -> None:
    _override(tmp_path, "acme", "high_cpu", "{% if %}")
    _override(tmp_path, "beta", "default", "{% set title = nope %}")
    env = {"ALERTING_TENANTS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "alerting.cli", "templates", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "tenant acme:" in done.stderr and "high_cpu.j2:1: syntax error" in done.stderr
    assert "tenant beta:" in done.stderr and "unknown variable 'nope'" in done.stderr
