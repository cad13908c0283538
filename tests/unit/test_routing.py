"""The routing tree: Alertmanager's semantics, inheritance, defaults and validation."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.events import Severity
from alerting.domain.matchers import alert_facts
from alerting.domain.routing import RouteMatch, SlackChannelRouter
from alerting.domain.tenants import TenantConfig, parse_tenant
from alerting.domain.views import AlertView, MessageOptions, NotificationKind
from alerting.slack.formatter import SlackAlertFormatter

DB_GROUP = "<!subteam^S0DBTEAM|@db-oncall>"


def tenant(route: dict[str, Any] | None = None, **extra: Any) -> TenantConfig:
    data: dict[str, Any] = {
        "tenant_id": "t",
        "name": "T",
        "slack_config": {
            "default_channel": "#alerts",
            "escalation_channel": "#critical",
            "environments": {"staging": {"channel": "#staging"}},
        },
        "escalation_policies": {
            "db-sla": {"levels": [{"delay": 60, "channels": ["#db-managers"]}]},
            "default-sla": {"levels": [{"delay": 300, "channels": ["#ops"]}]},
        },
        **extra,
    }
    if route is not None:
        data["route"] = route
    return parse_tenant(data, where="t.yaml")


def match(
    config: TenantConfig,
    *,
    alert_type: str = "high_cpu",
    severity: str = "warning",
    environment: str | None = None,
    **labels: str,
) -> list[RouteMatch]:
    facts = alert_facts(
        alert_type=alert_type, severity=severity, environment=environment, labels=labels
    )
    return SlackChannelRouter(config).match(facts)


def paths(found: list[RouteMatch]) -> list[str]:
    return [m.path for m in found]


TREE: dict[str, Any] = {
    "routes": [
        {
            "matchers": ['team=~"db|dba"'],
            "channels": ["#db"],
            "mention": DB_GROUP,
            "escalation_policy": "db-sla",
            "routes": [
                {"matchers": ["environment=staging"], "channels": ["#db-staging"]},
                {"name": "db-disks", "matchers": ["alert_type=disk_*"], "group_by": ["host"]},
            ],
        },
        {"matchers": ["environment=staging"], "group_by": ["alertname"], "group_wait": "10s"},
    ]
}


def test_a_tenant_without_route_routes_as_before() -> None:
    config = tenant()
    (only,) = match(config, severity="critical", team="db")
    assert only == RouteMatch(
        path="route",
        channels=("#alerts", "#critical"),
        mention=None,
        group_by=None,
        group_wait=0.0,
        group_interval=0.0,
        repeat_interval=0.0,
        escalation_policy=None,
    )
    assert paths(match(config, environment="staging")) == ["route"]
    assert match(config, environment="staging")[0].channels == ("#staging",)
    router = SlackChannelRouter(config)
    assert router.channels_for(severity=Severity.CRITICAL, environment="staging") == [
        "#staging",
        "#critical",
    ]
    assert router.channels_for(severity=Severity.INFO, environment="prod") == ["#alerts"]


def test_first_matching_child_wins_and_children_inherit() -> None:
    config = tenant(TREE)
    (db,) = match(config, severity="critical", team="dba")
    assert (db.path, db.channels, db.mention, db.escalation_policy) == (
        "route.routes.0",
        ("#db",),
        DB_GROUP,
        "db-sla",
    )
    # A db alert in staging takes the db subtree, not the staging route after it.
    (staging_db,) = match(config, severity="critical", environment="staging", team="db")
    assert staging_db.path == "route.routes.0.routes.0"
    assert staging_db.channels == ("#db-staging",)
    assert (staging_db.mention, staging_db.escalation_policy) == (DB_GROUP, "db-sla")
    # A named route shows its name; channels come from the parent, grouping is its own.
    (disks,) = match(config, alert_type="disk_full", severity="critical", team="db")
    assert (disks.path, disks.channels, disks.group_by) == ("db-disks", ("#db",), ("host",))


def test_anchored_regexes_and_globs() -> None:
    config = tenant(TREE)
    assert paths(match(config, team="dbx")) == ["route"]  # anchored: dbx is not db
    assert paths(match(config, team="db", alert_type="disk_full")) == ["db-disks"]
    assert paths(match(config, team="db", alert_type="full_disk")) == ["route.routes.0"]


def test_a_node_keeps_the_alert_when_no_child_matches() -> None:
    config = tenant(TREE)
    (root,) = match(config, severity="critical", environment="prod", team="web")
    assert root.path == "route"
    assert root.channels == ("#alerts", "#critical")  # the environment / default behaviour


def test_continue_lets_later_siblings_match_too() -> None:
    config = tenant(
        {
            "routes": [
                {
                    "name": "audit",
                    "matchers": ["severity=critical"],
                    "channels": ["#audit"],
                    "continue": True,
                },
                {"name": "db", "matchers": ["team=db"], "channels": ["#db"]},
                {"name": "never", "matchers": ["team=db"], "channels": ["#never"]},
            ]
        }
    )
    assert paths(match(config, severity="critical", team="db")) == ["audit", "db"]
    # Only the continuing route matched: the alert goes there alone, as in Alertmanager.
    assert paths(match(config, severity="critical", team="web")) == ["audit"]
    assert paths(match(config, severity="info", team="web")) == ["route"]
    router = SlackChannelRouter(config)
    assert router.channels_for(
        severity=Severity.CRITICAL, environment=None, labels={"team": "db"}
    ) == ["#audit", "#db"]


def test_channels_for_is_the_union_without_duplicates() -> None:
    config = tenant(
        {
            "routes": [
                {"matchers": ["team=db"], "channels": ["#db", "#shared"], "continue": True},
                {"matchers": ["alert_type=disk_*"], "channels": ["#shared", "#storage"]},
            ]
        }
    )
    router = SlackChannelRouter(config)
    assert router.channels_for(
        severity=Severity.INFO, environment=None, alert_type="disk_full", labels={"team": "db"}
    ) == ["#db", "#shared", "#storage"]


def test_mention_only_for_its_severities() -> None:
    config = tenant(
        {
            "mention": "<!here>",
            "routes": [
                {
                    "matchers": ["team=db"],
                    "mention": DB_GROUP,
                    "mention_severities": ["critical", "error"],
                },
            ],
        }
    )
    assert match(config, severity="critical")[0].mention == "<!here>"
    assert match(config, severity="error")[0].mention is None  # default: criticals only
    assert match(config, severity="error", team="db")[0].mention == DB_GROUP
    assert match(config, severity="warning", team="db")[0].mention is None


def test_grouping_defaults() -> None:
    config = tenant(TREE)
    (ungrouped,) = match(config, team="db")
    assert ungrouped.group_by is None
    assert (ungrouped.group_wait, ungrouped.group_interval) == (0.0, 0.0)
    (staging,) = match(config, environment="staging")
    assert staging.group_by == ("alertname",)
    # Set: 10s; unset: Alertmanager's 5m and 4h.
    assert (staging.group_wait, staging.group_interval, staging.repeat_interval) == (
        10.0,
        300.0,
        14400.0,
    )
    every = tenant({"group_by": ["..."], "repeat_interval": "1h"})
    (found,) = match(every)
    assert found.groups_every_label and found.group_wait == 30.0
    assert found.repeat_interval == 3600.0


def test_route_policy_survives_a_round_trip_through_storage() -> None:
    config = tenant({**TREE, "routes": [{**TREE["routes"][0], "continue": True}]})
    stored = config.model_dump(mode="json")
    assert stored["route"]["routes"][0]["continue"] is True
    assert TenantConfig.model_validate(stored) == config


@pytest.mark.parametrize(
    ("route", "path", "reason"),
    [
        (
            {"routes": [{}, {"matchers": ["team=~(db"]}]},
            "route.routes.1.matchers.0",
            "bad regular expression",
        ),
        ({"routes": [{"colour": "red"}]}, "route.routes.0.colour", "unknown field"),
        ({"routes": [{"channels": []}]}, "route.routes.0.channels", "at least one"),
        ({"routes": [{"channels": ["alerts"]}]}, "route.routes.0.channels", "is not a channel"),
        (
            {"routes": [{"routes": [{"escalation_policy": "nope"}]}]},
            "route.routes.0.routes.0.escalation_policy",
            "no escalation policy named 'nope'",
        ),
        ({"mention": "@db-team"}, "route.mention", "is not a Slack mention"),
        ({"mention": "<!subteam^S1|x> <script>"}, "route.mention", "is not a Slack mention"),
        ({"routes": [{"group_wait": -1}]}, "route.routes.0.group_wait", "cannot be negative"),
        ({"repeat_interval": "soon"}, "route.repeat_interval", "is not a duration"),
        ({"group_by": ["...", "host"]}, "route.group_by", "stands alone"),
        ({"matchers": ["team=db"]}, "route.matchers", "root route takes every alert"),
        (
            {"routes": [{"mention_severities": ["loud"]}]},
            "route.routes.0.mention_severities.0",
            "Input should be",
        ),
    ],
)
def test_invalid_routes_name_the_key_path(route: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        tenant(route)
    assert caught.value.where == "t.yaml"
    assert any(p == path and reason in r for p, r in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    "mention", ["<!subteam^S0123ABC>", "<!here>", "<@U0123ABC>", "<!subteam^S01|@db> <@U02ABC>"]
)
def test_valid_mentions(mention: str) -> None:
    assert tenant({"mention": mention}).route is not None


def _view() -> AlertView:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    return AlertView(
        alert_id="a1",
        tenant_id="t",
        tenant_name="T",
        alert_type="disk_full",
        severity=Severity.CRITICAL,
        message="disk <b> 97%",
        status="firing",
        environment=None,
        labels={},
        annotations={},
        source=None,
        count=1,
        first_seen_at=at,
        last_seen_at=at,
    )


def test_a_route_mention_reaches_slack_unescaped_while_alert_text_stays_escaped() -> None:
    payload = SlackAlertFormatter().format(
        _view(), NotificationKind.FIRING, MessageOptions(allow_mentions=False, mention=DB_GROUP)
    )
    texts = [b["text"]["text"] for b in payload["blocks"] if b.get("text")]
    assert f"Attention: {DB_GROUP}" in texts
    assert payload["text"].startswith(DB_GROUP)
    assert "disk &lt;b&gt; 97%" in str(payload["blocks"])
    # Anything that is not Slack's mention syntax is escaped even here.
    forged = SlackAlertFormatter().format(
        _view(), NotificationKind.FIRING, MessageOptions(mention="<https://evil|click>")
    )
    assert "<https://evil|click>" not in str(forged)
