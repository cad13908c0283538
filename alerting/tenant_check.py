"""Refuse an unknown tenant at the edge, where PostgreSQL can be seen.

A producer holding only ``REDIS_URL`` cannot know the tenants: its event is refused by the
worker (counted in ``alerting_rejected_events_total``). The CLI usually sees PostgreSQL too (set,
or recorded by a running ``alerting up``), and then says at once that a tenant does not exist.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from alerting.cli_errors import EXIT_BAD_INPUT, fail
from alerting.settings import get_settings

logger = logging.getLogger(__name__)


def known_tenant_ids() -> list[str] | None:
    """The tenants in PostgreSQL, or None where PostgreSQL is not configured or not answering."""
    from alerting.db.repositories import list_tenant_ids
    from alerting.db.session import session_scope

    if not get_settings().postgres_url:
        return None
    try:
        with session_scope() as session:
            return list(list_tenant_ids(session))
    except OperationalError:
        logger.debug("PostgreSQL does not answer; the worker checks the tenant", exc_info=True)
        return None


def refuse_unknown_tenant(tenant_id: str, *, option: str) -> None:
    """Exit 2 naming ``tenant_id`` and the known tenants, if PostgreSQL says it is unknown."""
    known = known_tenant_ids()
    if known is None or tenant_id in known:
        return
    fail(
        f"{option}: unknown tenant {tenant_id!r} (known: {', '.join(known) or 'none'}); "
        f"add config/tenants/{tenant_id}.yaml and run `alerting tenants sync`",
        EXIT_BAD_INPUT,
    )
