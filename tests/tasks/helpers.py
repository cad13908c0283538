"""Reading what the pipeline did, from Postgres and the sandbox."""

from __future__ import annotations

from typing import Any

from alerting.db.repositories import create_api_key
from alerting.db.session import session_scope
from alerting.pipeline.queries import alert_details
from tests.services import wait_for


def details(alert_or_event_id: str) -> dict[str, Any] | None:
    from alerting.pipeline.lifecycle import AlertNotFound

    try:
        with session_scope() as session:
            return alert_details(session, alert_or_event_id)
    except AlertNotFound:
        return None


def wait_details(
    event_id: str, predicate: Any, *, timeout: float = 15, what: str = "alert"
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = details(event_id)
        return found if found and predicate(found) else None

    return wait_for(check, timeout=timeout, what=what)


def states(found: dict[str, Any]) -> dict[str, str]:
    return {n["channel"]: n["state"] for n in found["notifications"]}


def all_sent(found: dict[str, Any]) -> bool:
    return bool(found["notifications"]) and all(
        n["state"] == "sent" for n in found["notifications"]
    )


def key_headers(tenant_id: str) -> dict[str, str]:
    """Headers with a new API key of ``tenant_id``."""
    with session_scope() as session:
        return {"Authorization": f"Bearer {create_api_key(session, tenant_id)}"}
