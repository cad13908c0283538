"""Who may do what: every route declares its permission; API keys by scope (and legacy keys)
walk every endpoint on their own tenant and on another; users and their roles from the CLI;
every write audited with its actor."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerting import send_alert
from alerting.authz import ROLE_SCOPES, declared_permission
from alerting.db.models import AuditEntry
from alerting.db.repositories import create_api_key
from alerting.db.session import session_scope
from alerting.pipeline.silences import create_silence, parse_spec
from alerting.web.app import create_app
from tests.conftest import Stack
from tests.services import cli
from tests.tasks.helpers import wait_details

#: Routes FastAPI itself adds (the API's description and its viewers): public by design.
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _declared(dependant: Any) -> list[str]:
    found = []
    for dep in dependant.dependencies:
        permission = declared_permission(dep.call)
        if permission:
            found.append(permission)
        found += _declared(dep)
    return found


def _undeclared(routes: list[Any], inherited: list[str]) -> list[str]:
    found = []
    for route in routes:
        if hasattr(route, "original_router"):
            # A router included in another (FastAPI keeps the inclusion as a route).
            context = route.include_context
            extra = [declared_permission(d.dependency) for d in context.dependencies]
            found += _undeclared(route.original_router.routes, inherited + [p for p in extra if p])
        elif isinstance(route, APIRoute):
            if len({*inherited, *_declared(route.dependant)}) != 1:
                found.append(f"{sorted(route.methods or ())} {route.path}")
        elif getattr(route, "path", None) not in FRAMEWORK_ROUTES:
            found.append(repr(route))
    return found


def test_every_route_declares_its_permission() -> None:
    app = create_app()
    assert _undeclared(app.routes, []) == []
    # The walk reaches routes of included routers: one added bare there is caught.
    from fastapi import APIRouter

    bare = APIRouter()
    bare.add_api_route("/api/v1/bare", lambda: None)
    app.include_router(bare)
    assert _undeclared(app.routes, []) == ["['GET'] /api/v1/bare"]


def _key(tenant_id: str, scopes: list[str] | None) -> dict[str, str]:
    with session_scope() as session:
        return {"Authorization": f"Bearer {create_api_key(session, tenant_id, scopes=scopes)}"}


def _objects(tenant_id: str) -> dict[str, str]:
    event = send_alert.delay(
        tenant_id=tenant_id, alert_type="authz_probe", severity="warning", message="m"
    ).id
    alert_id = wait_details(str(event), lambda d: d["alert"] is not None)["alert"]["id"]
    spec = parse_spec(
        {"matchers": ["alertname=nothing"], "duration": "1h", "created_by": "t"}, where="t"
    )
    with session_scope() as session:
        silence_id = str(create_silence(session, tenant_id, spec, where="t").id)
    return {"alert": alert_id, "silence": silence_id, "tenant": tenant_id}


#: (method, path, permission, body): every API endpoint, ``{alert}``/``{silence}``/``{tenant}``
#: filled with the target tenant's objects.
ENDPOINTS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/alerts/{alert}", "alerts:read", None),
    ("GET", "/api/v1/silences/{silence}", "alerts:read", None),
    ("POST", "/api/v1/alerts/{alert}/ack", "alerts:respond", None),
    ("POST", "/api/v1/alerts/{alert}/resolve", "alerts:respond", None),
    ("DELETE", "/api/v1/silences/{silence}", "silences:write", None),
    (
        "POST",
        "/api/v1/alerts",
        "alerts:write",
        {"tenant_id": "{tenant}", "alert_type": "x", "severity": "info", "message": "m"},
    ),
    ("POST", "/api/v1/api-keys", "admin", {"scopes": ["alerts:read"]}),
]
#: Keys as each role's scopes, and a key made before scopes existed.
KEYS: dict[str, list[str] | None] = {
    **{role: sorted(scopes) for role, scopes in ROLE_SCOPES.items()},
    "producer": ["alerts:write"],
    "legacy": None,
}
ALLOWED: dict[str, set[str]] = {
    "viewer": {"alerts:read"},
    "responder": {"alerts:read", "alerts:respond", "silences:write"},
    "admin": {"alerts:read", "alerts:respond", "silences:write", "alerts:write", "admin"},
    "owner": {"alerts:read", "alerts:respond", "silences:write", "alerts:write", "admin"},
    "producer": {"alerts:write"},
    "legacy": {"alerts:read", "alerts:respond", "silences:write", "alerts:write"},
}


def _fill(value: Any, objects: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**objects)
    if isinstance(value, dict):
        return {k: _fill(v, objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, objects) for v in value]
    return value


def test_roles_by_endpoints_by_tenant(web: TestClient) -> None:
    mine, theirs = _objects("tenant-a"), _objects("tenant-b")
    failures = []
    for name, scopes in KEYS.items():
        headers = _key("tenant-a", scopes)
        for method, path, permission, body in ENDPOINTS:
            for where, objects in (("own", mine), ("other", theirs)):
                url = _fill(path, objects)
                answer = web.request(method, url, headers=headers, json=_fill(body, objects))
                if permission not in ALLOWED[name]:
                    expected = {403}
                elif where == "other":
                    # Another tenant's objects are answered as missing; a body naming another
                    # tenant is refused.
                    expected = {403} if path == "/api/v1/alerts" else {404}
                    if path == "/api/v1/api-keys":
                        expected = {201}  # mints for the caller's own tenant, whatever it names
                else:
                    expected = {200, 201, 202, 409}
                if answer.status_code not in expected:
                    failures.append(f"{name} {method} {url} ({where}): {answer.status_code}")
    assert failures == []


def test_a_key_is_never_minted_with_more_than_its_creator_holds(web: TestClient) -> None:
    admin = _key("tenant-a", ["admin"])
    minted = web.post("/api/v1/api-keys", headers=admin, json={"scopes": ["alerts:read"]})
    assert minted.status_code == 201, minted.text
    reader = {"Authorization": f"Bearer {minted.json()['key']}"}
    # The new key reads, and cannot mint an admin key for itself.
    assert web.get("/api/v1/silences", headers=reader).status_code == 200
    assert (
        web.post("/api/v1/api-keys", headers=reader, json={"scopes": ["admin"]}).status_code == 403
    )
    refused = web.post("/api/v1/api-keys", headers=admin, json={"scopes": ["root"]})
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "scopes"
    with session_scope() as session:
        created = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "api_key.created")
        ).all()
    by_admin = [e for e in created if e.actor.startswith("api-key:")]
    assert [e.detail["scopes"] for e in by_admin] == [["alerts:read"]]


def test_legacy_keys_keep_producing_and_acknowledging(web: TestClient) -> None:
    legacy = _key("tenant-a", None)
    sent = web.post(
        "/api/v1/alerts",
        headers=legacy,
        json={"alert_type": "legacy", "severity": "warning", "message": "m"},
    )
    assert sent.status_code == 202, sent.text
    alert_id = wait_details(sent.json()["id"], lambda d: d["alert"] is not None)["alert"]["id"]
    acked = web.post(f"/api/v1/alerts/{alert_id}/ack", headers=legacy)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    found = web.get(f"/api/v1/alerts/{alert_id}", headers=legacy).json()
    actors = {e["actor"] for e in found["audit"] if e["action"] == "alert.acknowledged"}
    assert actors == {legacy["Authorization"][7:17].join(["api-key:", ""])}


def _users(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli("users", *args), input=stdin, capture_output=True, text=True, timeout=60
    )


def test_users_from_the_cli_with_roles_in_several_tenants(clean: Stack) -> None:
    made = _users(
        *("create", "--tenant", "tenant-a", "--email", "Ann@Example.com", "--role", "viewer"),
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert made.returncode == 0, made.stderr
    again = _users(
        *("create", "--tenant", "tenant-b", "--email", "ann@example.com", "--role", "responder"),
    )
    assert again.returncode == 0, again.stderr
    twice = _users(
        *("create", "--tenant", "tenant-b", "--email", "ann@example.com", "--role", "admin"),
    )
    assert twice.returncode == 1 and "set-role" in twice.stderr
    assert (
        _users(
            "set-role", "--tenant", "tenant-a", "--email", "ann@example.com", "--role", "admin"
        ).returncode
        == 0
    )
    bad = _users("set-role", "--tenant", "tenant-a", "--email", "ann@example.com", "--role", "god")
    assert bad.returncode == 2 and "--role" in bad.stderr and "Traceback" not in bad.stderr
    short = _users(
        *("create", "--tenant", "tenant-a", "--email", "bob@example.com", "--role", "viewer"),
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 2 and "password" in short.stderr
    import json

    listed = json.loads(_users("list", "--json").stdout)
    assert [(u["email"], u["tenant_id"], u["role"]) for u in listed] == [
        ("ann@example.com", "tenant-a", "admin"),
        ("ann@example.com", "tenant-b", "responder"),
    ]
    assert _users("disable", "--email", "ann@example.com").returncode == 0
    assert all(u["disabled"] for u in json.loads(_users("list", "--json").stdout))
    with session_scope() as session:
        from alerting.users import authenticate

        assert authenticate(session, "ann@example.com", "correct horse battery") is None
        actions = session.execute(
            select(AuditEntry.tenant_id, AuditEntry.action, AuditEntry.actor).where(
                AuditEntry.action.like("user.%")
            )
        ).all()
    assert set(actions) == {
        ("tenant-a", "user.created", "system:cli"),
        ("tenant-b", "user.created", "system:cli"),
        ("tenant-a", "user.role_changed", "system:cli"),
        ("tenant-a", "user.disabled", "system:cli"),
        ("tenant-b", "user.disabled", "system:cli"),
    }


@pytest.mark.parametrize("password", ["correct horse battery"])
def test_passwords_are_argon2(clean: Stack, password: str) -> None:
    from alerting.db.models import User
    from alerting.users import authenticate, create_user

    with session_scope() as session:
        create_user(
            session, tenant_id="tenant-a", email="c@example.com", role="viewer", password=password
        )
    with session_scope() as session:
        stored = session.scalars(select(User.password_hash)).one()
        assert stored.startswith("$argon2id$") and password not in stored
        assert authenticate(session, "c@example.com", password) is not None
        assert authenticate(session, "c@example.com", password + "!") is None


def test_the_cli_mints_keys_with_scopes(web: TestClient) -> None:
    made = subprocess.run(
        cli("tenants", "create-key", "tenant-a", "--scope", "admin"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    admin = {"Authorization": f"Bearer {made.stdout.strip()}"}
    assert (
        web.post("/api/v1/api-keys", headers=admin, json={"scopes": ["alerts:read"]}).status_code
        == 201
    )
    bad = subprocess.run(
        cli("tenants", "create-key", "tenant-a", "--scope", "root"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--scope" in bad.stderr
