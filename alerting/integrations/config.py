"""The ``integrations`` block of a tenant file: where a tenant's escalations may page.

Secrets (the PagerDuty routing key, the ServiceNow password) are ``SecretStr``: their repr and
JSON dump are masked, so a config printed or logged never shows them. They are encrypted at
rest like webhook URLs (``alerting/db/repositories.py``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

#: ServiceNow instances live on ``<instance>.service-now.com``.
SERVICENOW_DOMAIN = ".service-now.com"
#: PagerDuty integration (routing) keys are 32 characters of letters and digits.
ROUTING_KEY_RE = re.compile(r"^[A-Za-z0-9]{32}$")
TARGETS = ("pagerduty", "servicenow")


class PagerDutyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The Events API v2 integration key of a PagerDuty service.
    routing_key: SecretStr

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, value: SecretStr) -> SecretStr:
        if not ROUTING_KEY_RE.match(value.get_secret_value()):
            raise ValueError("must be a 32-character PagerDuty integration key (letters, digits)")
        return value


class ServiceNowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``https://<instance>.service-now.com`` (or a host listed in ALERTING_WEBHOOK_HOSTS).
    instance_url: str
    username: str = Field(min_length=1, max_length=200)
    password: SecretStr
    #: Group (name or sys_id) new incidents are assigned to.
    assignment_group: str | None = Field(default=None, min_length=1, max_length=200)
    #: User (name or sys_id) recorded as the caller of new incidents.
    caller_id: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("instance_url")
    @classmethod
    def _instance_url(cls, value: str, info: ValidationInfo) -> str:
        """Same rule as tenant webhooks: a tenant file must not make the workers send alert
        contents and credentials to an arbitrary server."""
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        host = parts.hostname.lower()
        hosts = (info.context or {}).get("webhook_hosts")
        if hosts is None or host in hosts:
            return value.rstrip("/")
        if parts.scheme != "https" or not host.endswith(SERVICENOW_DOMAIN):
            raise ValueError(
                f"host {host!r} is not allowed: use https://<instance>{SERVICENOW_DOMAIN} "
                "or list the host in ALERTING_WEBHOOK_HOSTS"
            )
        return value.rstrip("/")


class IntegrationsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pagerduty: PagerDutyConfig | None = None
    servicenow: ServiceNowConfig | None = None

    def configured(self) -> frozenset[str]:
        return frozenset(name for name in TARGETS if getattr(self, name) is not None)
