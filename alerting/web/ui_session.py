"""Sessions of ``/ui/``: an opaque random token in a secure, HTTP-only cookie, the session
itself in Redis (so disabling a user or signing out ends it everywhere), a CSRF token per
session checked on every form and action, and a limit on sign-in attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import redis
from fastapi import Depends, HTTPException, Request

from alerting.authz import ROLE_SCOPES
from alerting.users import SignedIn

SESSION_COOKIE = "alerting_session"
#: Before sign-in: the login form's CSRF token (double submit: cookie and form field).
LOGIN_CSRF_COOKIE = "alerting_login_csrf"
SESSION_SECONDS = 12 * 3600
#: Failed sign-ins allowed per email and per client address within the window.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW_SECONDS = 15 * 60


class NotSignedIn(Exception):
    """Answered with a redirect to the login page (pages) or 401 (actions)."""


def _redis(request: Request) -> redis.Redis:
    client = getattr(request.app.state, "ui_redis", None)
    if client is None:
        url = request.app.state.settings.require_redis_url()
        client = request.app.state.ui_redis = redis.Redis.from_url(url)
    return client


def _key(token: str) -> str:
    return "alerting:ui:session:" + hashlib.sha256(token.encode()).hexdigest()


def start_session(request: Request, user_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    data = {"user_id": str(user_id), "csrf": secrets.token_urlsafe(24)}
    _redis(request).set(_key(token), json.dumps(data), ex=SESSION_SECONDS)
    return token


def end_session(request: Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        _redis(request).delete(_key(token))


def cookie_options() -> dict[str, Any]:
    return {"httponly": True, "secure": True, "samesite": "strict", "path": "/ui"}


def attempts_left(request: Request, email: str) -> bool:
    """False when this email or this client failed too often lately."""
    client = _redis(request)
    keys = _attempt_keys(request, email)
    counts = client.mget(keys)
    return all(int(c or 0) < LOGIN_ATTEMPTS for c in counts)


def record_failure(request: Request, email: str) -> None:
    client = _redis(request)
    for key in _attempt_keys(request, email):
        # The window starts at the first failure; later ones do not extend it.
        if client.incr(key) == 1:
            client.expire(key, LOGIN_WINDOW_SECONDS)


def _attempt_keys(request: Request, email: str) -> list[str]:
    host = request.client.host if request.client else "unknown"
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return [f"alerting:ui:login:email:{digest}", f"alerting:ui:login:ip:{host}"]


@dataclass(frozen=True, slots=True)
class UiUser:
    """The signed-in user of a request, the CSRF token of their session, and the tenants in
    which they hold the route's permission."""

    user: SignedIn
    csrf: str
    tenants: tuple[str, ...]
    permission: str

    def may(self, tenant_id: str, permission: str) -> bool:
        return permission in self.user.scopes(tenant_id)

    @property
    def actor(self) -> str:
        return f"user:{self.user.email}"


async def form_of(request: Request) -> dict[str, str]:
    """The request's urlencoded form (its first value per field); read once, kept."""
    cached = getattr(request.state, "form", None)
    if isinstance(cached, dict):
        return cached
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    request.state.form = form
    return form


def _signed_in(request: Request) -> tuple[SignedIn, str]:
    from alerting.db.session import session_scope
    from alerting.users import signed_in

    token = request.cookies.get(SESSION_COOKIE)
    raw = _redis(request).get(_key(token)) if token else None
    if raw is None:
        raise NotSignedIn()
    data = json.loads(raw)
    with session_scope(request.app.state.settings.postgres_url) as session:
        user = signed_in(session, uuid.UUID(data["user_id"]))
    if user is None:
        raise NotSignedIn()
    return user, str(data["csrf"])


def ui_requires(permission: str) -> Any:
    """A ``/ui/`` route dependency: a signed-in user holding ``permission`` in at least one
    tenant (403 otherwise); on POST, the session's CSRF token in the form or the
    ``X-CSRF-Token`` header (403 otherwise)."""

    async def dependency(request: Request) -> UiUser:
        import asyncio

        try:
            user, csrf = await asyncio.to_thread(_signed_in, request)
        except NotSignedIn:
            if request.method == "GET" and request.url.path != "/ui/events":
                raise HTTPException(
                    303, "sign in first", headers={"Location": "/ui/login"}
                ) from None
            raise HTTPException(401, "sign in first at /ui/login") from None
        if request.method == "POST":
            given = request.headers.get("x-csrf-token") or (await form_of(request)).get("csrf")
            if not given or not hmac.compare_digest(given, csrf):
                raise HTTPException(403, "csrf: missing or wrong token; reload the page")
        tenants = tuple(
            sorted(t for t, role in user.roles.items() if permission in ROLE_SCOPES[role])
        )
        if not tenants:
            raise HTTPException(403, f"you need the {permission} permission in a tenant")
        return UiUser(user=user, csrf=csrf, tenants=tenants, permission=permission)

    dependency.__permission__ = f"ui {permission}"  # type: ignore[attr-defined]
    return Depends(dependency)


def ui_public(reason: str) -> Any:
    """A ``/ui/`` route anyone may reach (the login page, the script)."""

    async def dependency() -> None:
        return None

    dependency.__permission__ = f"public: {reason}"  # type: ignore[attr-defined]
    return Depends(dependency)
