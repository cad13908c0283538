"""Tenant configuration: the ``slack_config`` block and its validation.

Tenants are written by operators as ``config/tenants/<tenant>.yaml``; the same model
validates them when loaded from files, from Postgres, or from the HTTP API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from alerting.chatops.permissions import ChatopsConfig
from alerting.domain.anomalies import AnomalyConfig
from alerting.domain.channels import check_channel
from alerting.domain.errors import InvalidInput, pydantic_problems
from alerting.domain.escalation import EscalationPolicy, unconfigured_integrations
from alerting.domain.events import ENVIRONMENT_RE, Severity, TenantId, text_problem
from alerting.domain.flapping import FlappingConfig
from alerting.domain.muting import InhibitRule, MaintenanceWindow, unique_names
from alerting.domain.oncall import OncallSchedule, oncall_schedule_name
from alerting.domain.quotas import Quotas, count_routes
from alerting.domain.routing import Route
from alerting.integrations.config import IntegrationsConfig
from alerting.intelligence.correlation_config import CorrelationConfig, TopologyConfig

#: The only host Slack's incoming webhooks live on (see also Settings.allowed_webhook_hosts).
SLACK_WEBHOOK_HOST = "hooks.slack.com"
SUPPORTED_LANGUAGES = ("en", "fr", "de")


def _check_webhook(value: str, info: ValidationInfo) -> str:
    """Tenant-written URLs go to Slack only, unless the operator lists another host.

    Checked where tenant files are read (``context["webhook_hosts"]``): a tenant must not make
    the workers post (with alert contents) to an arbitrary server.
    """
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    hosts = (info.context or {}).get("webhook_hosts")
    if hosts is None:
        return value
    if parts.hostname.lower() not in hosts:
        raise ValueError(
            f"host {parts.hostname!r} is not allowed: use https://{SLACK_WEBHOOK_HOST}/... "
            "or list the host in ALERTING_WEBHOOK_HOSTS"
        )
    if parts.scheme != "https" and parts.hostname.lower() == SLACK_WEBHOOK_HOST:
        raise ValueError("Slack webhooks are https://")
    return value


class EnvironmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Channel for this environment's alerts instead of ``default_channel``.
    channel: str

    _check = field_validator("channel")(classmethod(lambda cls, v: check_channel(v)))


class SlackConfig(BaseModel):
    """The ``slack_config`` block users know from the original design, plus delivery options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_channel: str
    escalation_channel: str | None = None
    #: Where a notification goes when its channel refuses it for good (archived, missing).
    fallback_channel: str | None = None
    #: Messages per minute this tenant may post to Slack, all channels together.
    rate_limit: int = Field(default=60, gt=0, le=100_000)
    #: Message languages; the first is the default.
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    #: Incoming webhook for this tenant; unset means the operator's SLACK_WEBHOOK_URL.
    webhook_url: str | None = None
    #: Bot token (``xoxb-…``): delivery through the Web API, with threads and in-place
    #: updates. Unset: the operator's SLACK_BOT_TOKEN when the tenant has no webhook of its own.
    bot_token: str | None = Field(default=None, pattern=r"^xox[bp]-[A-Za-z0-9-]+$")
    #: Incoming webhooks per channel. Slack's current webhooks post to the one channel they
    #: were created for and ignore a ``channel`` field, so multi-channel routing in webhook
    #: mode needs one per channel; a channel without one uses ``webhook_url``.
    channel_webhooks: dict[str, str] = Field(default_factory=dict)
    #: Per-environment channel overrides, e.g. ``staging: {channel: "#alerts-staging"}``.
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    #: The Slack workspace (``T…``) whose button clicks may act on this tenant's alerts.
    team_id: str | None = Field(default=None, pattern=r"^[TE][A-Z0-9]{4,20}$")
    #: Languages per channel, overriding ``languages``: one, or two for a bilingual channel.
    channel_languages: dict[str, list[str]] = Field(default_factory=dict)
    #: Let ``<!channel>``/``<@U…>`` in alert text notify people (escaped otherwise).
    allow_mentions: bool = False

    @field_validator("default_channel", "escalation_channel", "fallback_channel")
    @classmethod
    def _channels(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for lang in value:
            if lang not in SUPPORTED_LANGUAGES:
                raise ValueError(f"{lang!r} is not supported; use {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("channel_languages")
    @classmethod
    def _channel_languages(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for channel, languages in value.items():
            check_channel(channel)
            if not 1 <= len(languages) <= 2:
                raise ValueError(f"{channel}: one language, or two for a bilingual channel")
            cls._languages(languages)
        return value

    @field_validator("environments")
    @classmethod
    def _environment_names(
        cls, value: dict[str, EnvironmentConfig]
    ) -> dict[str, EnvironmentConfig]:
        for name in value:
            if not ENVIRONMENT_RE.match(name):
                raise ValueError(
                    f"{name!r} is not an environment name: lowercase letters, digits, '-', '_' "
                    "(events use the same form, so any other name would never match)"
                )
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_webhook(value, info)

    @field_validator("channel_webhooks")
    @classmethod
    def _channel_webhooks(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for channel, url in value.items():
            check_channel(channel)
            _check_webhook(url, info)
        return value


class TenantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: TenantId
    name: str = Field(min_length=1, max_length=200)
    slack_config: SlackConfig
    #: Named escalation policies (``sla-critical: {levels: [...], repeat, ack_timeout}``).
    escalation_policies: dict[str, EscalationPolicy] = Field(default_factory=dict)
    #: Policy attached automatically to new alerts of a severity (``critical: sla-critical``).
    severity_policies: dict[Severity, str] = Field(default_factory=dict)
    #: The routing tree (Alertmanager's ``route:``); unset, alerts route by environment.
    route: Route | None = None
    #: PagerDuty and ServiceNow, which escalation levels may name (``pagerduty: true``).
    integrations: IntegrationsConfig = Field(default_factory=IntegrationsConfig)

    @model_validator(mode="after")
    def _known_integrations(self) -> TenantConfig:
        configured = self.integrations.configured()
        for name, policy in self.escalation_policies.items():
            problems = unconfigured_integrations(
                policy.levels, configured, path=f"escalation_policies.{name}.levels"
            )
            if problems:
                raise ValueError("; ".join(f"{where}: {reason}" for where, reason in problems))
        return self

    #: Times when matching alerts are muted (see alerting/domain/muting.py).
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    #: Open alerts that mute others (``source_matchers``, ``target_matchers``, ``equal``).
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)

    @field_validator("maintenance_windows")
    @classmethod
    def _window_names(cls, value: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
        unique_names(value)
        return value

    #: When an alert that fires and resolves again and again is held back (``fires`` within
    #: ``window``, stable again after ``stable_for``).
    flapping: FlappingConfig = Field(default_factory=FlappingConfig)
    anomaly_detection: AnomalyConfig = Field(default_factory=AnomalyConfig)
    #: On-call rotations, named; a level's ``mention: oncall:<name>`` pages whoever is on call.
    oncall_schedules: dict[str, OncallSchedule] = Field(default_factory=dict)
    #: What this tenant may own and send (alerting/domain/quotas.py has the defaults).
    quotas: Quotas = Field(default_factory=Quotas)
    #: Alerts that share a cause become one incident (alerting/intelligence/correlation.py).
    correlation: CorrelationConfig = Field(default_factory=CorrelationConfig)
    #: Which services depend on which, for correlation's topology signal and root cause.
    topology: TopologyConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("unstorable_text", problem), loc=loc, input=None
            )
            for loc, problem in _text_problems(data, ())
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data

    @model_validator(mode="after")
    def _within_quotas(self) -> TenantConfig:
        over: list[tuple[tuple[str, ...], str]] = []
        routes = count_routes(self.route)
        if routes > self.quotas.routes:
            over.append(
                (("route", "routes"), f"{routes} routes; quotas.routes allows {self.quotas.routes}")
            )
        if len(self.inhibit_rules) > self.quotas.inhibit_rules:
            over.append(
                (
                    ("inhibit_rules",),
                    f"{len(self.inhibit_rules)} rules; "
                    f"quotas.inhibit_rules allows {self.quotas.inhibit_rules}",
                )
            )
        if over:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(type=PydanticCustomError("quota", reason), loc=loc, input=None)
                    for loc, reason in over
                ],
            )
        return self

    #: The Slack slash command's name and who may act from Slack (alerting/chatops/).
    chatops: ChatopsConfig = Field(default_factory=ChatopsConfig)

    @model_validator(mode="after")
    def _known_policies(self) -> TenantConfig:
        for severity, name in self.severity_policies.items():
            if name not in self.escalation_policies:
                raise ValueError(
                    f"severity_policies.{severity.value}: no escalation policy named {name!r}"
                )
        return self

    @model_validator(mode="after")
    def _route_refers_to_known_policies(self) -> TenantConfig:
        if self.route is None:
            return self
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_policy", "no escalation policy named {name}", {"name": repr(name)}
                ),
                loc=(*path, "escalation_policy"),
                input=name,
            )
            for path, name in self.route.policy_names()
            if name not in self.escalation_policies
        ]
        if self.route.matchers:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "root_matchers",
                        "the root route takes every alert: put matchers on its routes",
                    ),
                    loc=("route", "matchers"),
                    input=[str(m) for m in self.route.matchers],
                )
            )
        if errors:
            # Raised as a ValidationError so that each problem keeps its own key path.
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _known_schedules(self) -> TenantConfig:
        for policy_name, policy in self.escalation_policies.items():
            for index, level in enumerate(policy.levels):
                schedule = oncall_schedule_name(level.mention)
                if schedule is not None and schedule not in self.oncall_schedules:
                    known = ", ".join(sorted(self.oncall_schedules)) or "none defined"
                    raise ValueError(
                        f"escalation_policies.{policy_name}.levels.{index}.mention: "
                        f"no on-call schedule named {schedule!r} (oncall_schedules: {known})"
                    )
        return self

    def locales_for(self, channel: str) -> tuple[str, ...]:
        """The channel's languages, else the tenant's first (its default)."""
        config = self.slack_config
        return tuple(config.channel_languages.get(channel) or config.languages[:1])

    def channel_for_environment(self, environment: str | None) -> str:
        if environment and environment in self.slack_config.environments:
            return self.slack_config.environments[environment].channel
        return self.slack_config.default_channel


def _text_problems(
    data: Any, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every string of a tenant file (keys too) that could not be stored or shown as it is."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(data, str):
        problem = text_problem(data, multiline=True)
        if problem:
            found.append((loc, problem))
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and text_problem(key):
                found.append(((*loc, repr(key)), f"the key {text_problem(key)}"))
                continue
            found.extend(_text_problems(value, (*loc, key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_text_problems(item, (*loc, index)))
    return found


def parse_tenant(
    data: Any, *, where: str, webhook_hosts: frozenset[str] | None = None
) -> TenantConfig:
    """Validate a tenant written by an operator; ``webhook_hosts`` limits its webhook URLs."""
    try:
        return TenantConfig.model_validate(data, context={"webhook_hosts": webhook_hosts})
    except ValidationError as exc:
        raise InvalidInput(where, pydantic_problems(exc)) from None


def load_tenant_file(path: Path, webhook_hosts: frozenset[str] | None = None) -> TenantConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise InvalidInput(
            str(path), [(line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        ) from None
    config = parse_tenant(data, where=str(path), webhook_hosts=webhook_hosts)
    if path.stem != config.tenant_id:
        raise InvalidInput(
            str(path),
            [("tenant_id", f"{config.tenant_id!r} does not match the file name {path.name!r}")],
        )
    return config


def load_tenants_dir(
    directory: Path, webhook_hosts: frozenset[str] | None = frozenset({SLACK_WEBHOOK_HOST})
) -> tuple[list[TenantConfig], list[InvalidInput]]:
    """Every tenant file in ``directory``; problems are collected, not raised one by one."""
    tenants: list[TenantConfig] = []
    problems: list[InvalidInput] = []
    if not directory.is_dir():
        problems.append(InvalidInput(str(directory), [("(directory)", "does not exist")]))
        return tenants, problems
    seen: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            tenant = load_tenant_file(path, webhook_hosts)
        except InvalidInput as exc:
            problems.append(exc)
            continue
        if tenant.tenant_id in seen:
            problems.append(
                InvalidInput(
                    str(path), [("tenant_id", f"already defined in {seen[tenant.tenant_id]}")]
                )
            )
            continue
        seen[tenant.tenant_id] = path
        tenants.append(tenant)
    return tenants, problems
