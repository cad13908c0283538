"""The web UI at ``/ui/``: server-rendered pages of the signed-in user's tenants (alerts,
timelines, silences, on call, escalations), actions that change alerts as Slack's buttons do,
and a live feed (server-sent events) that tells open pages what changed.

Every route declares its permission (:func:`ui_requires` or :func:`ui_public`); another
tenant's alert or silence is answered 404, a known one the user may only read 403 on actions.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from alerting.db.models import Alert, AlertEventRow, Escalation
from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.domain.matchers import Matcher, alert_facts, matches_all, parse_cached
from alerting.live import channel, stream_key
from alerting.pipeline.lifecycle import AlertNotFound, find_alert
from alerting.web.ui_session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    UiUser,
    attempts_left,
    cookie_options,
    end_session,
    form_of,
    record_failure,
    start_session,
    ui_public,
    ui_requires,
)

#: HTML pages and their forms, not the HTTP API: left out of the OpenAPI document.
router = APIRouter(include_in_schema=False)
STATUSES = ("firing", "acknowledged", "resolved")
#: Alerts shown per status on a page.
PAGE_ALERTS = 500
_env = Environment(
    loader=PackageLoader("alerting.web", "templates"),
    autoescape=select_autoescape(["html"]),
)
_STATIC = Path(__file__).parent / "static"
_COMMA = re.compile(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")

Read = Annotated[UiUser, ui_requires("alerts:read")]
Respond = Annotated[UiUser, ui_requires("alerts:respond")]
SilenceWrite = Annotated[UiUser, ui_requires("silences:write")]


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=status)


def parse_filter(text: str) -> list[Matcher]:
    """Alertmanager's matcher list: ``{severity="critical", team=~"db|infra"}``, braces
    optional."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    found = []
    for part in _COMMA.split(body):
        if part.strip():
            try:
                found.append(parse_cached(part.strip()))
            except (InvalidInput, ValueError) as exc:
                raise InvalidInput("filter", [("filter", str(exc))]) from None
    return found


def _tenant(ui: UiUser, tenant: str | None) -> str:
    if tenant is None:
        return ui.tenants[0]
    if tenant not in ui.tenants:
        # Not one of the user's tenants: as if it did not exist.
        raise HTTPException(404, f"tenant: no tenant {tenant!r}")
    return tenant


def _facts(alert: Alert) -> dict[str, str]:
    return alert_facts(
        alert_type=alert.alert_type,
        severity=alert.severity,
        environment=alert.environment,
        labels=alert.labels,
    )


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": str(alert.id),
        "tenant_id": alert.tenant_id,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "environment": alert.environment or "",
        "status": alert.status,
        "message": alert.message,
        "labels": alert.labels,
        "count": alert.count,
        "last_seen_at": alert.last_seen_at,
        "acknowledged_by": alert.acknowledged_by,
    }


def _alerts(
    tenant_id: str, matchers: list[Matcher], group: str
) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
    """status -> [(group value, alerts)]"""
    out: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
    with session_scope() as session:
        for status in STATUSES:
            rows = session.scalars(
                select(Alert)
                .where(Alert.tenant_id == tenant_id, Alert.status == status)
                .order_by(Alert.last_seen_at.desc())
                .limit(PAGE_ALERTS)
            ).all()
            groups: dict[str, list[dict[str, Any]]] = {}
            for alert in rows:
                facts = _facts(alert)
                if matches_all(matchers, facts):
                    key = facts.get(group, "") if group else ""
                    groups.setdefault(key or ("(no " + group + ")" if group else ""), []).append(
                        _alert_row(alert)
                    )
            out[status] = sorted(groups.items())
    return out


def _oncall(tenant_id: str) -> list[dict[str, Any]]:
    from alerting.db.repositories import load_tenant
    from alerting.domain.oncall import who_is_on_call
    from alerting.secrets import SecretBox
    from alerting.settings import get_settings

    with session_scope() as session:
        config = load_tenant(session, tenant_id, SecretBox.from_settings(get_settings())).config
    now = datetime.now(UTC)
    out = []
    for name, schedule in config.oncall_schedules.items():
        shift = who_is_on_call(schedule, now)
        out.append({"schedule": name, "user": shift.user, "until": shift.until})
    return out


def _escalations(tenant_id: str, alert_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    query = (
        select(Escalation, Alert.alert_type)
        .join(Alert, Alert.id == Escalation.alert_id)
        .where(Escalation.tenant_id == tenant_id)
        .order_by(Escalation.next_at)
    )
    if alert_id is None:
        query = query.where(Escalation.state == "active")
    else:
        query = query.where(Escalation.alert_id == alert_id)
    with session_scope() as session:
        return [
            {
                "alert_id": str(e.alert_id),
                "alert_type": alert_type,
                "policy": e.policy_name,
                "level": e.level,
                "levels": len(e.policy.get("levels", [])),
                "next_at": e.next_at,
                "state": e.state,
                "stopped_reason": e.stopped_reason,
            }
            for e, alert_type in session.execute(query).all()
        ]


# --- signing in ---------------------------------------------------------------------------


@router.get("/ui/login", response_class=HTMLResponse, dependencies=[ui_public("the login form")])
def login_form(request: Request) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    page = _page("login.html", csrf=token, error=None)
    page.set_cookie(LOGIN_CSRF_COOKIE, token, **cookie_options())
    return page


@router.post("/ui/login", dependencies=[ui_public("signing in")])
async def login(request: Request) -> Response:
    from alerting.users import authenticate

    form = await form_of(request)
    email, password = form.get("email", ""), form.get("password", "")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, form.get("csrf", "")):
        raise HTTPException(403, "csrf: missing or wrong token; reload the login page")
    if not await asyncio.to_thread(attempts_left, request, email):
        return _page(
            "login.html",
            status=429,
            csrf=cookie,
            error="Too many failed attempts; wait a few minutes and try again.",
        )

    def check() -> Any:
        with session_scope(request.app.state.settings.postgres_url) as session:
            return authenticate(session, email, password)

    user = await asyncio.to_thread(check)
    if user is None or not user.roles:
        await asyncio.to_thread(record_failure, request, email)
        return _page("login.html", status=401, csrf=cookie, error="Wrong email or password.")
    token = await asyncio.to_thread(start_session, request, user.user_id)
    answer = RedirectResponse("/ui/", status_code=303)
    answer.set_cookie(SESSION_COOKIE, token, **cookie_options())
    answer.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui")
    return answer


@router.post("/ui/logout")
async def logout(request: Request, ui: Read) -> Response:
    await asyncio.to_thread(end_session, request)
    answer = RedirectResponse("/ui/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/ui")
    return answer


@router.get("/ui/static/ui.js", dependencies=[ui_public("the page's script")])
def script() -> Response:
    return Response((_STATIC / "ui.js").read_text(), media_type="text/javascript")


# --- pages ----------------------------------------------------------------------------------


@router.get("/ui/", response_class=HTMLResponse)
def alerts_page(
    ui: Read,
    tenant: Annotated[str | None, Query(max_length=63)] = None,
    filter_: Annotated[str, Query(alias="filter", max_length=2000)] = "",
    group: Annotated[str, Query(max_length=100)] = "",
    fragment: bool = False,
) -> HTMLResponse:
    tenant_id = _tenant(ui, tenant)
    try:
        matchers = parse_filter(filter_)
        problem = None
    except InvalidInput as exc:
        matchers, problem = [], str(exc)
    context: dict[str, Any] = {
        "ui": ui,
        "tenant": tenant_id,
        "filter": filter_,
        "group": group.strip(),
        "problem": problem,
        "alerts": _alerts(tenant_id, matchers, group.strip()) if problem is None else {},
        "can_respond": ui.may(tenant_id, "alerts:respond"),
    }
    if fragment:
        return _page("_alerts.html", **context)
    return _page(
        "alerts.html",
        status=422 if problem else 200,
        oncall=_oncall(tenant_id),
        escalations=_escalations(tenant_id),
        **context,
    )


def _readable_alert(ui: UiUser, alert_id: str) -> Alert:
    try:
        with session_scope() as session:
            alert = find_alert(session, alert_id)
    except AlertNotFound:
        raise HTTPException(404, f"alert: no alert {alert_id}") from None
    if alert.tenant_id not in ui.user.roles:
        raise HTTPException(404, f"alert: no alert {alert_id}")
    return alert


@router.get("/ui/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(ui: Read, alert_id: str) -> HTMLResponse:
    from alerting.pipeline.queries import alert_details

    alert = _readable_alert(ui, alert_id)
    with session_scope() as session:
        found = alert_details(session, alert.id, tenant_id=alert.tenant_id)
        events = [
            {"at": e.received_at, "action": e.action, "actor": e.actor}
            for e in session.scalars(
                select(AlertEventRow)
                .where(AlertEventRow.alert_id == alert.id)
                .order_by(AlertEventRow.received_at)
            )
        ]
    return _page(
        "alert.html",
        ui=ui,
        tenant=alert.tenant_id,
        alert=found["alert"],
        events=events,
        notifications=found["notifications"],
        slack_messages=found["slack_messages"],
        audit=found["audit"],
        escalations=_escalations(alert.tenant_id, alert.id),
        can_respond=ui.may(alert.tenant_id, "alerts:respond"),
    )


# --- actions --------------------------------------------------------------------------------


def _back(form: dict[str, str], fallback: str) -> RedirectResponse:
    target = form.get("next", "")
    # Only back into the UI: never an open redirect.
    if not target.startswith("/ui/") or target.startswith("//"):
        target = fallback
    return RedirectResponse(target, status_code=303)


async def _act(request: Request, ui: UiUser, alert_id: str, action: str) -> Response:
    from alerting.manager import SyncSlackAlertManager

    alert = await asyncio.to_thread(_readable_alert, ui, alert_id)
    if not ui.may(alert.tenant_id, ui.permission):
        raise HTTPException(403, f"you need the {ui.permission} permission in {alert.tenant_id}")
    form = await form_of(request)

    def change() -> str:
        if action == "silence":
            return _silence_alert(ui, alert)
        # As Slack's buttons do: audited with the person, the Slack message updated.
        manager = SyncSlackAlertManager(request.app.state.settings, ingest_wait=0)
        act = manager.acknowledge if action == "acknowledge" else manager.resolve
        return act(alert.id, by=ui.actor, tenant_id=alert.tenant_id).status

    status = await asyncio.to_thread(change)
    if request.headers.get("x-csrf-token"):
        return Response(json.dumps({"id": str(alert.id), "status": status}), 200)
    return _back(form, f"/ui/alerts/{alert.id}")


def _silence_alert(ui: UiUser, alert: Alert) -> str:
    from alerting.pipeline.silences import silence_alert
    from alerting.producer import enqueue_route

    with session_scope() as session:
        made = silence_alert(
            session,
            alert.tenant_id,
            alert.id,
            by=ui.actor,
            seconds=3600,
            comment="Silence 1h from the web UI",
        )
    if made is not None and made[1] is not None:
        enqueue_route(alert.tenant_id, made[1], urgent=True)
    return "silenced" if made is not None else "resolved"


@router.post("/ui/alerts/{alert_id}/ack")
async def ack_action(request: Request, ui: Respond, alert_id: str) -> Response:
    return await _act(request, ui, alert_id, "acknowledge")


@router.post("/ui/alerts/{alert_id}/resolve")
async def resolve_action(request: Request, ui: Respond, alert_id: str) -> Response:
    return await _act(request, ui, alert_id, "resolve")


@router.post("/ui/alerts/{alert_id}/silence")
async def silence_action(request: Request, ui: SilenceWrite, alert_id: str) -> Response:
    return await _act(request, ui, alert_id, "silence")


# --- silences -------------------------------------------------------------------------------


@router.get("/ui/silences", response_class=HTMLResponse)
def silences_page(
    ui: Read, tenant: Annotated[str | None, Query(max_length=63)] = None
) -> HTMLResponse:
    return _silences_page(ui, _tenant(ui, tenant), None)


def _silences_page(ui: UiUser, tenant_id: str, problem: str | None) -> HTMLResponse:
    from alerting.pipeline.silences import list_silences, silence_dict

    with session_scope() as session:
        found = list_silences(session, tenant_id, include_expired=False, limit=500)
        rows = [silence_dict(s) for s in found]
    return _page(
        "silences.html",
        status=422 if problem else 200,
        ui=ui,
        tenant=tenant_id,
        silences=rows,
        problem=problem,
        can_silence=ui.may(tenant_id, "silences:write"),
    )


@router.post("/ui/silences")
async def create_silence_action(request: Request, ui: SilenceWrite) -> Response:
    from alerting.pipeline.silences import create_silence, parse_spec

    form = await form_of(request)
    tenant_id = _tenant(ui, form.get("tenant") or None)
    try:
        matchers = [m.strip() for m in _COMMA.split(form.get("matchers", "")) if m.strip()]
        spec = parse_spec(
            {
                "matchers": matchers,
                "duration": form.get("duration", ""),
                "comment": form.get("comment", ""),
                "created_by": ui.actor,
            },
            where="silence",
        )

        def create() -> None:
            with session_scope() as session:
                create_silence(session, tenant_id, spec, where="web UI")

        await asyncio.to_thread(create)
    except InvalidInput as exc:
        return await asyncio.to_thread(_silences_page, ui, tenant_id, str(exc))
    return RedirectResponse(f"/ui/silences?tenant={tenant_id}", status_code=303)


@router.post("/ui/silences/{silence_id}/expire")
async def expire_silence_action(request: Request, ui: SilenceWrite, silence_id: str) -> Response:
    from alerting.pipeline.silences import SilenceNotFound, expire_silence

    form = await form_of(request)
    tenant_id = _tenant(ui, form.get("tenant") or None)

    def expire() -> None:
        with session_scope() as session:
            expire_silence(session, tenant_id, silence_id, by=ui.actor)

    try:
        await asyncio.to_thread(expire)
    except SilenceNotFound:
        raise HTTPException(404, f"silence: no silence {silence_id}") from None
    return RedirectResponse(f"/ui/silences?tenant={tenant_id}", status_code=303)


# --- live -----------------------------------------------------------------------------------


@router.get("/ui/events")
async def events(
    request: Request,
    ui: Read,
    tenant: Annotated[str | None, Query(max_length=63)] = None,
) -> StreamingResponse:
    """Server-sent events: one per change of the tenant's alerts, ``id`` the position in the
    tenant's stream, so a reconnecting page (``Last-Event-ID``) misses none."""
    tenant_id = _tenant(ui, tenant)
    last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    url = request.app.state.settings.require_redis_url()
    return StreamingResponse(
        _stream(request, url, tenant_id, last),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _newer(a: str, b: str | None) -> bool:
    if b is None:
        return True
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    try:
        return (int(ams), int(aseq or 0)) > (int(bms), int(bseq or 0))
    except ValueError:
        return True


async def _stream(
    request: Request, url: str, tenant_id: str, last: str | None
) -> AsyncIterator[bytes]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    try:
        # Subscribe first, then read what was missed: nothing falls between the two.
        await pubsub.subscribe(channel(tenant_id))
        yield b"retry: 1000\n\n"
        if last:
            missed: Any = await client.xrange(
                stream_key(tenant_id), min=f"({last}", max="+", count=10_000
            )
            for entry_id, fields in missed or []:
                ident = entry_id.decode()
                yield _sse(ident, fields[b"data"].decode())
                last = ident
        while not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                yield b": keep-alive\n\n"
                continue
            parsed = json.loads(message["data"])
            if _newer(parsed["id"], last):
                last = parsed["id"]
                yield _sse(parsed["id"], parsed["data"])
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


def _sse(ident: str, data: str) -> bytes:
    return f"id: {ident}\nevent: alert\ndata: {data}\n\n".encode()
