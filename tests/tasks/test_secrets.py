"""Tenant secrets: encrypted at rest, never in logs, errors, the audit trail or `alerts show`."""

from __future__ import annotations

import subprocess

import yaml
from sqlalchemy import text

from alerting import SyncSlackAlertManager, send_alert
from alerting.db.session import session_scope
from tests.conftest import TEST_TENANTS, Stack
from tests.services import cli
from tests.tasks.helpers import all_sent, wait_details

SECRETS = ("xoxb-test-tenant-w-5f1c2a", "T0B/B0B/tenant-b", "T0B/B0C/b-ops")


def test_secrets_never_leave_their_encrypted_column(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    ids = [
        send_alert.delay(tenant_id="tenant-w", alert_type="x", severity="critical", message="m").id,
        send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m").id,
        send_alert.delay(
            tenant_id="tenant-b", alert_type="y", severity="error", message="m", environment="ops"
        ).id,
    ]
    for event_id in ids:
        wait_details(event_id, all_sent)
    # Failures too: Slack's errors are recorded, never the credentials they were sent with.
    clean.sandbox.fault("#w-alerts", errors=["token_revoked"])
    clean.sandbox.fault("#b-alerts", responses=[500])
    SyncSlackAlertManager().acknowledge(ids[0], by="alice")
    SyncSlackAlertManager().acknowledge(ids[1], by="alice")
    wait_details(ids[0], lambda d: any(n["state"] == "dead" for n in d["notifications"]))
    wait_details(ids[1], lambda d: len(d["notifications"]) == 2 and all_sent(d), timeout=30)

    shown = "".join(
        subprocess.run(
            cli("alerts", "show", i, "--json"),
            env=clean.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for i in ids
    )
    with session_scope() as session:
        # tuple(): a Row's own repr cuts long values short, which would hide what is stored.
        dumped = "".join(
            str(tuple(row))
            for table in ("audit_log", "notifications", "alert_events", "alerts", "tenants")
            for row in session.execute(text(f"SELECT * FROM {table}")).all()
        )
    logs = clean.worker.log_path.read_text(errors="replace")
    for secret in SECRETS:
        assert secret not in shown, f"{secret} in alerts show"
        assert secret not in dumped, f"{secret} stored in plain text"
        assert secret not in logs, f"{secret} in the worker log"
    assert "$encrypted" in dumped


def test_tenant_webhooks_must_point_at_slack(clean: Stack, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    for name, url in (
        ("evil", "https://collector.example.com/services/x"),
        ("plain", "http://hooks.slack.com/services/x"),
        ("good", "https://hooks.slack.com/services/T1/B1/x"),
    ):
        data = yaml.safe_load(yaml.safe_dump(TEST_TENANTS["tenant-a"]))
        data["tenant_id"] = name
        data["slack_config"]["webhook_url"] = url
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))
    env = {**clean.env, "ALERTING_WEBHOOK_HOSTS": ""}
    done = subprocess.run(
        cli("tenants", "validate", "--dir", str(folder)), env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert (
        "evil.yaml: slack_config.webhook_url: host 'collector.example.com' is not allowed"
        in done.stderr
    )
    assert "plain.yaml: slack_config.webhook_url: Slack webhooks are https://" in done.stderr
    assert "good.yaml" not in done.stderr
    assert "collector.example.com/services/x" not in done.stderr.replace(
        "'collector.example.com'", ""
    )
    allowed = subprocess.run(
        cli("tenants", "validate", "--dir", str(folder)),
        env={**env, "ALERTING_WEBHOOK_HOSTS": "collector.example.com"},
        capture_output=True,
        text=True,
    )
    assert "evil.yaml" not in allowed.stderr
