"""FastAPI app: ``POST /api/v1/alerts`` for producers that are not Python, Alertmanager's
webhook, lifecycle actions, ``/metrics`` for Prometheus. Every API call is scoped to the
tenant of its API key."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerting.authz import public, requires
from alerting.db.repositories import tenant_for_api_key
from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput, pydantic_problems
from alerting.domain.events import validate_event
from alerting.integrations.alertmanager import AlertmanagerPayload, parse_webhook
from alerting.metrics import ALERTMANAGER_ALERTS, REJECTED, render_latest
from alerting.pipeline.lifecycle import AlertNotFound, InvalidTransition
from alerting.pipeline.queries import alert_details
from alerting.producer import build_producer_app, producer_app, publish_event, publish_events
from alerting.settings import Settings, get_settings
from alerting.web import health
from alerting.web.access import router as access_router
from alerting.web.incidents import router as incidents_router
from alerting.web.interactions import router as interactions_router
from alerting.web.limits import BodySizeLimit, BodyTooLarge, EventThrottle, Throttled, admit
from alerting.web.schemas import (
    ActionBody,
    AlertDetails,
    AlertEventBody,
    AlertmanagerQueued,
    AlertState,
    QueuedAlert,
    error_responses,
    inline_schema,
)
from alerting.web.silences import router as silences_router

log = logging.getLogger(__name__)


class Caller(BaseModel):
    tenant_id: str
    key_prefix: str

    @property
    def actor(self) -> str:
        return f"api-key:{self.key_prefix}"


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """The tenant of the request's API key; every API call is scoped to it."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(
            401,
            "Authorization: expected 'Bearer <tenant API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = authorization.split(" ", 1)[1].strip()
    with session_scope(request.app.state.settings.postgres_url) as session:
        found = tenant_for_api_key(session, key)
    if found is None:
        raise HTTPException(401, "Authorization: unknown or revoked API key")
    return Caller(tenant_id=found[0], key_prefix=found[1])


CallerDep = Annotated[Caller, Depends(caller)]


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="Slack alerting", version="0.1.0")
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    throttle = EventThrottle(settings.redis_url) if settings.redis_url else None
    app.include_router(interactions_router)
    app.include_router(silences_router)
    broker_gate = health.install(app, settings)
    broker_url = settings.celery_broker_url or settings.redis_url or ""
    producer = producer_app() if settings is get_settings() else build_producer_app(settings)
    app.include_router(incidents_router)
    app.include_router(access_router)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        REJECTED.labels(edge="http").inc()
        return JSONResponse(
            status_code=422,
            content={
                "error": str(exc),
                "problems": [{"field": f, "reason": r} for f, r in exc.problems],
            },
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which may not even be encodable (a lone
        # surrogate); this one names each field and the reason, like every other refusal.
        problems = pydantic_problems(exc)
        return await _invalid(
            request,
            InvalidInput(
                f"{request.method} {request.url.path}",
                [
                    (field.removeprefix("body.").removeprefix("body"), reason)
                    if field != "body"
                    else ("(body)", reason)
                    for field, reason in problems
                ],
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code, content={"error": exc.detail}, headers=exc.headers
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(status_code=413, content={"error": str(exc)})

    @app.exception_handler(Throttled)
    async def _throttled(_: Request, exc: Throttled) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={"error": str(exc)},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(AlertNotFound)
    async def _not_found(_: Request, exc: AlertNotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": str(exc)})

    @app.exception_handler(InvalidTransition)
    async def _conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse(status_code=409, content={"error": str(exc)})

    @app.post(
        "/api/v1/alerts",
        status_code=202,
        response_model=QueuedAlert,
        responses=error_responses(400, 401, 403, 413, 422, 429, 503),
        dependencies=[requires("alerts:write")],
    )
    def post_alert(
        request: Request, event_body: Annotated[AlertEventBody, Body()], who: CallerDep
    ) -> QueuedAlert:
        # A plain `def`: publishing to the broker blocks, so FastAPI runs it in a thread.
        body = event_body.model_dump(exclude_unset=True)
        claimed = body.get("tenant_id") or who.tenant_id
        if claimed != who.tenant_id:
            raise HTTPException(403, "tenant_id: this API key belongs to another tenant")
        body["tenant_id"] = claimed
        body.setdefault("source", f"http:{who.key_prefix}")
        event = validate_event(
            body, where="POST /api/v1/alerts", max_message_chars=settings.max_message_chars
        )
        admit(
            request.scope,
            tenant_id=who.tenant_id,
            events=1,
            postgres_url=settings.postgres_url,
            throttle=throttle,
        )
        broker_gate.check(broker_url, health.retry_after(settings))
        result = publish_event(event, app=producer)
        return QueuedAlert(id=str(result.id))

    @app.post(
        "/api/v1/integrations/alertmanager/{tenant_id}",
        status_code=202,
        response_model=AlertmanagerQueued,
        responses=error_responses(400, 401, 403, 413, 422, 429, 503),
        dependencies=[requires("alerts:write")],
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "Alertmanager's webhook payload, version 4",
                "content": {"application/json": {"schema": inline_schema(AlertmanagerPayload)}},
            }
        },
    )
    def alertmanager_webhook(
        request: Request, tenant_id: str, body: RawBody, who: CallerDep
    ) -> dict[str, Any]:
        """Alertmanager's webhook receiver (alerting/integrations/alertmanager.py)."""
        if tenant_id != who.tenant_id:
            raise HTTPException(403, "tenant: this API key belongs to another tenant")
        batch = parse_webhook(
            body,
            tenant_id=tenant_id,
            where=f"POST /api/v1/integrations/alertmanager/{tenant_id}",
            max_message_chars=settings.max_message_chars,
        )
        admit(
            request.scope,
            tenant_id=tenant_id,
            events=len(batch.events),
            postgres_url=settings.postgres_url,
            throttle=throttle,
        )
        broker_gate.check(broker_url, health.retry_after(settings))
        event_ids = publish_events(batch.events, app=producer)
        ALERTMANAGER_ALERTS.labels(tenant=tenant_id, status="firing").inc(batch.firing)
        ALERTMANAGER_ALERTS.labels(tenant=tenant_id, status="resolved").inc(batch.resolved)
        if batch.truncated or batch.severity_defaulted:
            log.info(
                "alertmanager batch for %s: %s alerts left out by max_alerts, "
                "%s given severity warning (no known severity label)",
                tenant_id,
                batch.truncated,
                batch.severity_defaulted,
            )
        return {
            "status": "queued",
            "firing": batch.firing,
            "resolved": batch.resolved,
            "truncated": batch.truncated,
            "severity_defaulted": batch.severity_defaulted,
            "events": event_ids,
        }

    @app.get(
        "/api/v1/alerts/{alert_id}",
        response_model=AlertDetails,
        responses=error_responses(401, 403, 404, 503),
        dependencies=[requires("alerts:read")],
    )
    def get_alert(alert_id: str, who: CallerDep) -> dict[str, Any]:
        with session_scope(settings.postgres_url) as session:
            return alert_details(session, alert_id, tenant_id=who.tenant_id)

    lifecycle_errors = error_responses(400, 401, 403, 404, 409, 413, 422, 503)
    respond = [requires("alerts:respond")]

    @app.post(
        "/api/v1/alerts/{alert_id}/ack",
        response_model=AlertState,
        responses=lifecycle_errors,
        dependencies=respond,
    )
    def ack(alert_id: str, who: CallerDep, body: ActionBody | None = None) -> dict[str, Any]:
        return _lifecycle("acknowledge", alert_id, who, body)

    @app.post(
        "/api/v1/alerts/{alert_id}/resolve",
        response_model=AlertState,
        responses=lifecycle_errors,
        dependencies=respond,
    )
    def resolve(alert_id: str, who: CallerDep, body: ActionBody | None = None) -> dict[str, Any]:
        return _lifecycle("resolve", alert_id, who, body)

    def _lifecycle(
        action: str, alert_id: str, who: Caller, body: ActionBody | None
    ) -> dict[str, Any]:
        from alerting.manager import SyncSlackAlertManager

        # An unknown id answers 404 at once; HTTP clients retry as they see fit.
        manager = SyncSlackAlertManager(settings, ingest_wait=0)
        by = (body.by if body and body.by else None) or who.actor
        change = manager.acknowledge if action == "acknowledge" else manager.resolve
        state = change(alert_id, by=by, tenant_id=who.tenant_id)
        return {"id": state.alert_id, "status": state.status, "changed": state.changed}

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        dependencies=[public("Prometheus scrapes it")],
    )
    async def metrics() -> Response:
        # On the event loop: requests stuck on a silent dependency hold request threads.
        data, content_type = render_latest()
        return Response(content=data, media_type=content_type)

    return app
