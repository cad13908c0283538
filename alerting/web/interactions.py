"""``POST /slack/interactions``: the Acknowledge / Resolve / Silence buttons, from Slack.

The request is verified from its raw body with the signing secret (slack_sdk's
``SignatureVerifier``, Slack's five-minute window); the same request seen twice is refused; the
tenant comes from the Slack team and must own the alert. The endpoint answers at once and the
change runs in a task on the tenant's queue, which updates the message in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from alerting.breaker import redis_client
from alerting.db.models import Alert, Tenant
from alerting.db.session import session_scope
from alerting.pipeline.lifecycle import AlertNotFound, parse_alert_id
from alerting.producer import producer_app
from alerting.queues import INTERACTION_TASK, tenant_urgent_queue
from alerting.settings import Settings
from alerting.slack.formatter import ACTION_ACK, ACTION_RESOLVE, ACTION_SILENCE_1H

log = logging.getLogger(__name__)

#: How long a request's signature is remembered to refuse replays, in seconds (Slack's own
#: window is five minutes, so anything older is refused by the timestamp check anyway).
REPLAY_WINDOW_SECONDS = 600
REPLAY_KEY_PREFIX = "alerting:slack-interaction:"
ACTIONS = {ACTION_ACK: "acknowledge", ACTION_RESOLVE: "resolve", ACTION_SILENCE_1H: "silence"}

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Click:
    team_id: str
    user: str
    action: str
    alert_id: str


def parse_click(body: bytes) -> Click:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload: dict[str, Any] = json.loads(form["payload"][0])
        action = payload["actions"][0]
        user = payload.get("user") or {}
        return Click(
            team_id=str((payload.get("team") or {}).get("id") or user.get("team_id") or ""),
            user=str(user.get("username") or user.get("name") or user.get("id") or "someone"),
            action=ACTIONS[action["action_id"]],
            alert_id=str(action["value"]),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise HTTPException(400, "payload: not a Slack block action of this app") from None


def _tenants_of_team(team_id: str) -> set[str]:
    with session_scope() as session:
        rows = session.execute(select(Tenant.id, Tenant.config)).all()
    return {row.id for row in rows if row.config["slack_config"].get("team_id") == team_id}


@router.post("/slack/interactions")
async def slack_interactions(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if settings.slack_signing_secret is None:
        raise HTTPException(503, "SLACK_SIGNING_SECRET is not set: Slack interactions are off")
    body = await request.body()
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    if not verifier.is_valid_request(body, dict(request.headers)):
        raise HTTPException(401, "X-Slack-Signature: invalid or outside the five-minute window")
    signature = request.headers.get("x-slack-signature", "")
    key = REPLAY_KEY_PREFIX + hashlib.sha256(signature.encode()).hexdigest()
    if not redis_client(settings.require_redis_url()).set(
        key, 1, nx=True, ex=REPLAY_WINDOW_SECONDS
    ):
        raise HTTPException(409, "this request was already received")
    click = parse_click(body)
    tenants = _tenants_of_team(click.team_id)
    try:
        alert_id = parse_alert_id(click.alert_id)
    except AlertNotFound:
        raise HTTPException(404, "alert not found") from None
    with session_scope() as session:
        owner = session.scalar(select(Alert.tenant_id).where(Alert.id == alert_id))
    if owner is None or owner not in tenants:
        # Another workspace's alert is answered like a missing one.
        raise HTTPException(404, "alert not found")
    producer_app().send_task(
        INTERACTION_TASK,
        kwargs={
            "tenant_id": owner,
            "alert_id": str(alert_id),
            "action": click.action,
            "by": f"@{click.user}",
        },
        queue=tenant_urgent_queue(owner),
    )
    log.info("slack %s of alert %s by %s queued", click.action, alert_id, click.user)
    # An empty 200 within Slack's three seconds; the message changes when the task has run.
    return JSONResponse({})
