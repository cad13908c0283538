"""Write validated tenant configs to Postgres in one transaction."""

from __future__ import annotations

from alerting.db.repositories import save_tenant
from alerting.db.session import session_scope
from alerting.domain.tenants import TenantConfig
from alerting.secrets import SecretBox
from alerting.settings import Settings, get_settings


def sync_tenants(tenants: list[TenantConfig], settings: Settings | None = None) -> tuple[int, int]:
    """Returns (created, updated). All or nothing: a failure leaves Postgres as it was."""
    settings = settings or get_settings()
    box = SecretBox.from_settings(settings)
    created = 0
    with session_scope(settings.postgres_url) as session:
        for tenant in tenants:
            created += save_tenant(session, tenant, box)
    return created, len(tenants) - created
