"""``alerting routes test``: answers from the tenant file alone (no services, nothing sent)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.services import ROOT, cli

TENANT: dict[str, Any] = {
    "tenant_id": "shop",
    "name": "Shop",
    "slack_config": {"default_channel": "#shop-alerts", "escalation_channel": "#shop-critical"},
    "escalation_policies": {"db-sla": {"levels": [{"delay": 60, "channels": ["#db-leads"]}]}},
    "route": {
        "routes": [
            {
                "name": "db",
                "matchers": ['team=~"db|dba"'],
                "channels": ["#db"],
                "mention": "<!subteam^S0DB|@db-oncall>",
                "escalation_policy": "db-sla",
                "group_by": ["alertname"],
            }
        ]
    },
}


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES", "REDIS"))}
    env["ALERTING_TENANTS_DIR"] = str(folder)
    return subprocess.run(
        cli("routes", "test", *args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_prints_the_matching_route(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(TENANT))
    done = run(tmp_path, "--tenant", "shop", "--type", "disk_full", "--labels", "team=dba")
    assert done.returncode == 0, done.stderr
    assert "route db" in done.stdout
    assert "channels: #db" in done.stdout
    assert "mention: <!subteam^S0DB|@db-oncall>" in done.stdout
    assert "grouping: by alertname; group_wait 30s, group_interval 5m, repeat_interval 4h" in (
        done.stdout
    )
    assert "escalation policy: db-sla (from the route)" in done.stdout

    as_json = run(
        tmp_path, "--tenant", "shop", "--severity", "warn", "--environment", "prod", "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert [m["route"] for m in result["matches"]] == ["route"]
    assert result["channels"] == ["#shop-alerts"]
    assert result["matches"][0]["mention"] is None and result["escalation_policy"] is None


def test_refuses_unknown_tenant_invalid_file_and_bad_options(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(TENANT))
    unknown = run(tmp_path, "--tenant", "nobody")
    # Exit 2: bad input (options, an unknown tenant); exit 1: the tenant file has problems.
    assert unknown.returncode == 2 and "unknown tenant 'nobody'" in unknown.stderr
    bad_label = run(tmp_path, "--tenant", "shop", "--labels", "team")
    assert bad_label.returncode == 2 and "'team' is not KEY=VALUE" in bad_label.stderr
    bad_severity = run(tmp_path, "--tenant", "shop", "--severity", "loud")
    assert bad_severity.returncode == 2 and "'loud' is not a severity" in bad_severity.stderr

    broken = {**TENANT, "tenant_id": "broken"}
    broken["route"] = {"routes": [{"matchers": ["team=~(db"], "escalation_policy": "db-sla"}]}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    invalid = run(tmp_path, "--tenant", "broken")
    assert invalid.returncode == 1
    assert "broken.yaml: route.routes.0.matchers.0: 'team=~(db': bad regular expression" in (
        invalid.stderr
    )
    # A broken neighbour does not stop the question about another tenant.
    assert run(tmp_path, "--tenant", "shop").returncode == 0
