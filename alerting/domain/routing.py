"""SlackChannelRouter: which channels an alert goes to, through the tenant's routing tree.

The tree (``route:`` in a tenant file) works as Alertmanager's does: an alert enters at the
root, which matches every alert, and walks down depth-first. At each node the first child whose
matchers all match takes the alert, and the walk stops there unless that child says
``continue: true``, in which case later siblings are tried too. A node none of whose children
match keeps the alert itself. Every setting a node leaves unset comes from its parent.

A tenant without ``route:`` has a bare root, which routes as the router always has: the
environment's channel (else ``default_channel``), plus ``escalation_channel`` for criticals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.domain.channels import check_channel
from alerting.domain.durations import Duration
from alerting.domain.events import Severity
from alerting.domain.matchers import MatcherField, alert_facts, matches_all

if TYPE_CHECKING:
    from alerting.domain.tenants import TenantConfig

#: ``group_by: ["..."]``: every label of the alert is part of its group key.
GROUP_BY_ALL = "..."
#: Alertmanager's timings, for a route that groups but leaves them unset (seconds).
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
#: Severities whose alerts carry a route's mention when the route does not say.
DEFAULT_MENTION_SEVERITIES = (Severity.CRITICAL,)

# Slack's mention syntax: a user group (``<!subteam^S0123ABC>``, optionally ``|@handle``), a
# special mention (``<!here>``, ``<!channel>``, ``<!everyone>``) or a user (``<@U0123ABC>``).
# Mentions are posted unescaped, so nothing else may get through.
_MENTION_TOKEN = (
    r"<(?:!subteam\^[A-Z0-9]{2,30}(?:\|@?[\w.-]{1,80})?"
    r"|!here|!channel|!everyone|@[UW][A-Z0-9]{2,30})>"
)
MENTION_RE = re.compile(rf"^{_MENTION_TOKEN}(?: {_MENTION_TOKEN}){{0,9}}$")
_LABEL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def check_mention(value: str) -> str:
    if not MENTION_RE.match(value):
        raise ValueError(
            f"{value!r} is not a Slack mention: write <!subteam^S0123ABC> (a user group), "
            "<@U0123ABC> (a user), <!here> or <!channel>; several are separated by one space"
        )
    return value


class Route(BaseModel):
    """A node of the routing tree; unset settings (None) are inherited from the parent."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    #: Shown instead of the node's position (``route.routes.1``) in tests and audit.
    name: str | None = Field(default=None, min_length=1, max_length=100)
    #: All must match for the alert to enter this node (none: every alert enters).
    matchers: list[MatcherField] = Field(default_factory=list, max_length=50)
    channels: list[str] | None = Field(default=None, max_length=20)
    #: Who the firing message notifies, e.g. ``<!subteam^S0123ABC>``.
    mention: str | None = Field(default=None, max_length=400)
    #: Alerts of these severities carry the mention (default: criticals only).
    mention_severities: list[Severity] | None = None
    #: Keep trying later siblings after this node matched.
    continue_: bool = Field(default=False, alias="continue")
    #: Labels whose values make an alert's group; ``["..."]``: every label.
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    #: A policy of the tenant's ``escalation_policies``; wins over ``severity_policies``.
    escalation_policy: str | None = None
    routes: list[Route] = Field(default_factory=list, max_length=100)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("a route that names channels needs at least one; omit it to inherit")
        for channel in value:
            check_channel(channel)
        return list(dict.fromkeys(value))

    @field_validator("mention")
    @classmethod
    def _mention(cls, value: str | None) -> str | None:
        return None if value is None else check_mention(value)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if GROUP_BY_ALL in value and len(value) > 1:
            raise ValueError(f"{GROUP_BY_ALL!r} means every label and stands alone")
        for name in value:
            if name != GROUP_BY_ALL and not _LABEL_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a label name")
        return value

    @model_validator(mode="after")
    def _timings_order(self) -> Route:
        if (
            self.group_wait is not None
            and self.group_interval is not None
            and self.group_interval < self.group_wait
        ):
            raise ValueError("group_interval must not be shorter than group_wait")
        return self

    def policy_names(
        self, path: tuple[str | int, ...] = ("route",)
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Every ``escalation_policy`` in the tree with its key path (checked by the tenant)."""
        found = [(path, self.escalation_policy)] if self.escalation_policy else []
        for i, child in enumerate(self.routes):
            found.extend(child.policy_names((*path, "routes", i)))
        return found


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where an alert goes and how, as one matching node decides it (with inheritance)."""

    #: The node's name, else its key path (``route.routes.1.routes.0``).
    path: str
    channels: tuple[str, ...]
    #: Already filtered by ``mention_severities`` for this alert.
    mention: str | None
    #: None: no grouping (one message per alert).
    group_by: tuple[str, ...] | None
    group_wait: float
    group_interval: float
    repeat_interval: float
    escalation_policy: str | None

    @property
    def groups_every_label(self) -> bool:
        return self.group_by == (GROUP_BY_ALL,)


_T = TypeVar("_T")


def _own(value: _T | None, inherited: _T) -> _T:
    return inherited if value is None else value


@dataclass(frozen=True, slots=True)
class _Inherited:
    """Settings in force at a node: its own, else its ancestors'."""

    channels: tuple[str, ...] | None = None
    mention: str | None = None
    mention_severities: tuple[Severity, ...] = DEFAULT_MENTION_SEVERITIES
    group_by: tuple[str, ...] | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    escalation_policy: str | None = None

    def below(self, node: Route) -> _Inherited:
        return _Inherited(
            channels=_own(tuple(node.channels) if node.channels else None, self.channels),
            mention=_own(node.mention, self.mention),
            mention_severities=_own(
                tuple(node.mention_severities) if node.mention_severities is not None else None,
                self.mention_severities,
            ),
            group_by=_own(
                tuple(node.group_by) if node.group_by is not None else None, self.group_by
            ),
            group_wait=_own(node.group_wait, self.group_wait),
            group_interval=_own(node.group_interval, self.group_interval),
            repeat_interval=_own(node.repeat_interval, self.repeat_interval),
            escalation_policy=_own(node.escalation_policy, self.escalation_policy),
        )


_ROOT = Route()


class SlackChannelRouter:
    """The tenant's routing tree, and the fallback channel for refused notifications."""

    def __init__(self, tenant: TenantConfig) -> None:
        self.tenant = tenant

    def match(self, facts: Mapping[str, str]) -> list[RouteMatch]:
        """The nodes that take the alert described by ``facts`` (see ``alert_facts``), in
        tree order; never empty, since the root takes what no child does."""
        root = self.tenant.route or _ROOT
        found = self._walk(root, _Inherited(), facts, "route")
        assert found, "the root matches every alert"
        return found

    def channels_for(
        self,
        *,
        severity: Severity,
        environment: str | None,
        alert_type: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> list[str]:
        facts = alert_facts(
            alert_type=alert_type,
            severity=severity.value,
            environment=environment,
            labels=labels or {},
        )
        channels: dict[str, None] = {}
        for found in self.match(facts):
            channels.update(dict.fromkeys(found.channels))
        return list(channels)

    def fallback_channel(self, failed_channel: str) -> str | None:
        fallback = self.tenant.slack_config.fallback_channel
        return fallback if fallback and fallback != failed_channel else None

    def _walk(
        self, node: Route, inherited: _Inherited, facts: Mapping[str, str], path: str
    ) -> list[RouteMatch]:
        settings = inherited.below(node)
        found: list[RouteMatch] = []
        for i, child in enumerate(node.routes):
            if not matches_all(child.matchers, facts):
                continue
            found.extend(self._walk(child, settings, facts, f"{path}.routes.{i}"))
            if not child.continue_:
                break
        if found:
            return found
        return [self._settle(node, settings, facts, path)]

    def _settle(
        self, node: Route, settings: _Inherited, facts: Mapping[str, str], path: str
    ) -> RouteMatch:
        severity = facts.get("severity", "")
        mention = settings.mention
        if mention and severity not in {s.value for s in settings.mention_severities}:
            mention = None
        grouped = settings.group_by is not None

        def timing(value: float | None, default: float) -> float:
            if value is not None:
                return value
            # Without grouping each alert is its own message, sent at once.
            return default if grouped else 0.0

        return RouteMatch(
            path=node.name or path,
            channels=settings.channels or tuple(self._default_channels(facts)),
            mention=mention,
            group_by=settings.group_by,
            group_wait=timing(settings.group_wait, DEFAULT_GROUP_WAIT),
            group_interval=timing(settings.group_interval, DEFAULT_GROUP_INTERVAL),
            repeat_interval=timing(settings.repeat_interval, DEFAULT_REPEAT_INTERVAL),
            escalation_policy=settings.escalation_policy,
        )

    def _default_channels(self, facts: Mapping[str, str]) -> list[str]:
        """The root's channels when the tree sets none: environment, else default; plus the
        escalation channel for criticals."""
        channels = [self.tenant.channel_for_environment(facts.get("environment") or None)]
        escalation = self.tenant.slack_config.escalation_channel
        critical = facts.get("severity") == Severity.CRITICAL.value
        if critical and escalation and escalation not in channels:
            channels.append(escalation)
        return channels
