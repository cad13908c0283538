"""Who may do what: roles of users per tenant, scopes of API keys, and the permission every
HTTP route declares.

A permission is ``resource:action``, named like the API key scope that grants it. Some scopes
imply others, so a key that could act before scopes existed (``alerts:write`` +
``alerts:respond``) still reads the alerts and silences it acts on.

Every route of the web app carries one of :func:`requires` or :func:`public` among its
dependencies; tests/integration/test_authz.py fails on a route with neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request

SCOPES = ("alerts:write", "alerts:read", "alerts:respond", "silences:write", "admin")
#: Scopes of keys made before scopes existed (their ``scopes`` column is NULL).
LEGACY_SCOPES = frozenset({"alerts:write", "alerts:respond"})
#: What holding a scope also grants.
IMPLIES: dict[str, frozenset[str]] = {
    "alerts:respond": frozenset({"alerts:read", "silences:write"}),
    "silences:write": frozenset({"alerts:read"}),
    "admin": frozenset(SCOPES),
}
ROLES = ("viewer", "responder", "admin", "owner")
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"alerts:read"}),
    "responder": frozenset({"alerts:read", "alerts:respond", "silences:write"}),
    "admin": frozenset(SCOPES),
    "owner": frozenset(SCOPES),
}


def effective(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes given plus everything they imply."""
    out = set(scopes)
    for scope in list(out):
        out |= IMPLIES.get(scope, frozenset())
    return frozenset(out)


def allows(scopes: Iterable[str], permission: str) -> bool:
    return permission in effective(scopes)


def check_scopes(requested: Iterable[str], held: Iterable[str]) -> list[str]:
    """The requested scopes that the holder does not have (a key is never minted with more
    than its creator holds); unknown scope names are refused the same way."""
    mine = effective(held)
    return sorted(s for s in set(requested) if s not in SCOPES or s not in mine)


def role_rank(role: str) -> int:
    return ROLES.index(role)


@dataclass(frozen=True, slots=True)
class Grant:
    """The caller of an API route: its tenant, what it may do, and who to audit."""

    tenant_id: str
    scopes: frozenset[str]
    actor: str
    key_prefix: str = ""


def _api_grant(request: Request, authorization: str | None) -> Grant:
    from alerting.db.repositories import api_key_grant
    from alerting.db.session import session_scope

    cached = getattr(request.state, "grant", None)
    if isinstance(cached, Grant):
        return cached
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            401,
            "Authorization: expected 'Bearer <tenant API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = authorization.split(" ", 1)[1].strip()
    with session_scope(request.app.state.settings.postgres_url) as session:
        found = api_key_grant(session, key)
    if found is None:
        raise HTTPException(401, "Authorization: unknown or revoked API key")
    tenant_id, prefix, scopes = found
    grant = Grant(
        tenant_id=tenant_id,
        scopes=effective(LEGACY_SCOPES if scopes is None else scopes),
        actor=f"api-key:{prefix}",
        key_prefix=prefix,
    )
    request.state.grant = grant
    return grant


def requires(permission: str) -> Any:
    """A route dependency: the request's API key must hold ``permission`` (403 otherwise)."""
    if permission not in SCOPES:
        raise ValueError(f"unknown permission {permission!r}")

    def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Grant:
        grant = _api_grant(request, authorization)
        if permission not in grant.scopes:
            raise HTTPException(403, f"Authorization: this API key lacks the {permission} scope")
        return grant

    dependency.__permission__ = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def public(reason: str) -> Any:
    """A route dependency declaring that the route needs no API key, and why."""

    def dependency() -> None:
        return None

    dependency.__permission__ = f"public: {reason}"  # type: ignore[attr-defined]
    return Depends(dependency)


def declared_permission(call: Callable[..., Any] | None) -> str | None:
    return getattr(call, "__permission__", None) if call is not None else None
