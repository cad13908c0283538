"""Data access. Functions take a ``session``; the caller owns the transaction."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import AlertEventRow, ApiKey, AuditEntry, Notification, Tenant
from alerting.domain.errors import UnknownTenant
from alerting.domain.tenants import TenantConfig
from alerting.secrets import SecretBox

#: Fields of ``slack_config`` stored encrypted.
SECRET_FIELDS = ("webhook_url", "bot_token")
#: Secret fields of the ``integrations`` block, stored encrypted: (integration, field).
INTEGRATION_SECRETS = (("pagerduty", "routing_key"), ("servicenow", "password"))
#: Prefix of every API key, so a leaked key is recognisable in a secret scanner.
API_KEY_PREFIX = "alk_"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TenantRecord:
    config: TenantConfig
    #: Decrypted secrets; never logged, never audited.
    webhook_url: str | None
    channel_webhooks: dict[str, str]
    bot_token: str | None

    def webhook_for(self, channel: str) -> str | None:
        return self.channel_webhooks.get(channel) or self.webhook_url


def save_tenant(session: Session, config: TenantConfig, box: SecretBox) -> bool:
    """Insert or update a tenant; returns True when it was new."""
    data: dict[str, Any] = config.model_dump(mode="json")
    slack = data["slack_config"]
    for key in SECRET_FIELDS:
        if slack.get(key):
            slack[key] = box.encrypt(slack[key])
    slack["channel_webhooks"] = {
        channel: box.encrypt(url) for channel, url in slack.get("channel_webhooks", {}).items()
    }
    for name, key in INTEGRATION_SECRETS:
        integration = getattr(config.integrations, name)
        if integration is not None:
            # The JSON dump masks SecretStr values; the real value is read from the model.
            data["integrations"][name][key] = box.encrypt(
                getattr(integration, key).get_secret_value()
            )
    stmt = insert(Tenant).values(id=config.tenant_id, name=config.name, config=data)
    upsert = stmt.on_conflict_do_update(
        index_elements=[Tenant.id],
        set_={"name": stmt.excluded.name, "config": stmt.excluded.config, "updated_at": now()},
    ).returning(Tenant.created_at, Tenant.updated_at)
    created_at, updated_at = session.execute(upsert).one()
    return bool(created_at == updated_at)


def load_tenant(session: Session, tenant_id: str, box: SecretBox) -> TenantRecord:
    row = session.get(Tenant, tenant_id)
    if row is None:
        raise UnknownTenant(tenant_id)
    data = dict(row.config)
    slack = dict(data["slack_config"])
    secrets_: dict[str, str | None] = {}
    for key in SECRET_FIELDS:
        stored = slack.pop(key, None)
        secrets_[key] = box.decrypt(stored) if stored else None
    channel_webhooks = {
        channel: box.decrypt(stored)
        for channel, stored in slack.pop("channel_webhooks", {}).items()
    }
    data["slack_config"] = slack
    integrations = {
        name: dict(value) for name, value in (data.get("integrations") or {}).items() if value
    }
    for name, key in INTEGRATION_SECRETS:
        if integrations.get(name):
            integrations[name][key] = box.decrypt(integrations[name][key])
    data["integrations"] = integrations
    config = TenantConfig.model_validate(data)
    return TenantRecord(
        config=config,
        webhook_url=secrets_["webhook_url"],
        channel_webhooks=channel_webhooks,
        bot_token=secrets_["bot_token"],
    )


def tenant_exists(session: Session, tenant_id: str) -> bool:
    return session.get(Tenant, tenant_id) is not None


def list_tenant_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))


def add_event(
    session: Session,
    *,
    tenant_id: str,
    alert_id: uuid.UUID,
    action: str,
    actor: str,
    payload: dict[str, Any],
    routed_at: datetime | None = None,
) -> uuid.UUID:
    """An event of an alert made here rather than by a producer (a person's change, an
    escalation level); its own id is its idempotency key, so it never collides."""
    event_id = uuid.uuid4()
    session.add(
        AlertEventRow(
            id=event_id,
            tenant_id=tenant_id,
            idempotency_key=f"{action}:{event_id}",
            alert_id=alert_id,
            action=action,
            actor=actor,
            payload=payload,
            routed_at=routed_at,
        )
    )
    return event_id


def add_notification(
    session: Session,
    *,
    tenant_id: str,
    alert_id: uuid.UUID,
    event_id: uuid.UUID,
    kind: str,
    channel: str,
    **extra: Any,
) -> uuid.UUID | None:
    """A pending notification; None when the event already has one for that channel."""
    return session.execute(
        insert(Notification)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            alert_id=alert_id,
            event_id=event_id,
            kind=kind,
            channel=channel,
            state="pending",
            attempts=0,
            **extra,
        )
        .on_conflict_do_nothing()
        .returning(Notification.id)
    ).scalar_one_or_none()


def audit(
    session: Session,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    alert_id: uuid.UUID | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            tenant_id=tenant_id, alert_id=alert_id, actor=actor, action=action, detail=detail
        )
    )


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session,
    tenant_id: str,
    label: str | None = None,
    *,
    scopes: list[str] | None = None,
    actor: str = "system:cli",
) -> str:
    """Make a key; only its hash is stored, so the returned value is shown once. ``scopes``
    None makes a key like those made before scopes existed (alerting/authz.py)."""
    if not tenant_exists(session, tenant_id):
        raise UnknownTenant(tenant_id)
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            tenant_id=tenant_id,
            prefix=key[:10],
            key_hash=hash_api_key(key),
            label=label,
            scopes=sorted(scopes) if scopes is not None else None,
        )
    )
    audit(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="api_key.created",
        prefix=key[:10],
        scopes=sorted(scopes) if scopes is not None else None,
    )
    return key


def revoke_api_key(session: Session, tenant_id: str, prefix: str) -> int:
    """Revoke the tenant's keys starting with ``prefix``; returns how many were revoked."""
    keys = session.scalars(
        select(ApiKey).where(
            ApiKey.tenant_id == tenant_id,
            ApiKey.prefix == prefix[:10],
            ApiKey.revoked_at.is_(None),
        )
    ).all()
    for key in keys:
        key.revoked_at = now()
        audit(
            session,
            tenant_id=tenant_id,
            actor="system:cli",
            action="api_key.revoked",
            prefix=key.prefix,
        )
    return len(keys)


def tenant_for_api_key(session: Session, key: str) -> tuple[str, str] | None:
    """(tenant id, key prefix) for a valid, unrevoked key."""
    row = session.execute(
        select(ApiKey.tenant_id, ApiKey.prefix).where(
            ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    return (row.tenant_id, row.prefix) if row else None


def api_key_grant(session: Session, key: str) -> tuple[str, str, list[str] | None] | None:
    """(tenant id, key prefix, scopes or None for a key older than scopes) of a valid key."""
    row = session.execute(
        select(ApiKey.tenant_id, ApiKey.prefix, ApiKey.scopes).where(
            ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    return (row.tenant_id, row.prefix, row.scopes) if row else None
