"""The integrations outbox: calls to PagerDuty and ServiceNow written with the change that
asks for them, and sent by the ``alerting.integrate`` task.

A call is a row of ``integration_calls`` (one per alert, target and action). The escalation
tick writes the ``trigger`` of a level that names an integration; acknowledging or resolving
an alert writes the follow-up for every target its trigger was meant for. Like delivery, a
call is claimed in one transaction, sent outside any transaction, and recorded in a second.
A follow-up waits while an older call of the same alert and target is unfinished, so an
acknowledge never overtakes its trigger, and is dropped (dead) when the trigger died: the
alert never reached that system.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import Alert, IntegrationCall
from alerting.db.repositories import TenantRecord, audit, load_tenant, now
from alerting.db.session import session_scope
from alerting.domain.backoff import retry_countdown
from alerting.integrations import pagerduty, servicenow
from alerting.integrations.errors import IntegrationError, PermanentError, RateLimited
from alerting.metrics import INTEGRATION_CALLS
from alerting.pipeline.deliver import alert_view
from alerting.secrets import SecretBox
from alerting.settings import Settings

log = logging.getLogger(__name__)

FINAL_STATES = frozenset({"sent", "dead"})
UNFINISHED_STATES = ("pending", "sending", "retrying")
#: Order of a target's calls for one alert: a later action waits for the earlier ones.
ACTION_ORDER = {"trigger": 0, "acknowledge": 1, "resolve": 2}
#: Extra seconds, past the request timeouts, before another task may take over a claim.
CLAIM_GRACE_SECONDS = 5.0
#: Shortest wait of a follow-up behind an earlier call, in seconds.
MIN_WAIT_SECONDS = 0.5
ACTOR = "system:integrations"
#: Metric label of each state a call can end an attempt in.
OUTCOME_LABELS = {"retrying": "retried", "pending": "waiting"}


@dataclass(frozen=True, slots=True)
class CallResult:
    state: str
    #: Seconds until the task should run again, if at all.
    retry_in: float | None = None


def claim_stale_seconds(settings: Settings) -> float:
    return 2 * settings.integration_timeout + CLAIM_GRACE_SECONDS


def queue_call(
    session: Session, alert: Alert, *, target: str, action: str, actor: str
) -> uuid.UUID | None:
    """A pending call; None when this alert already has one for this target and action."""
    return session.execute(
        insert(IntegrationCall)
        .values(
            id=uuid.uuid4(),
            tenant_id=alert.tenant_id,
            alert_id=alert.id,
            target=target,
            action=action,
            actor=actor,
            state="pending",
            attempts=0,
            response={},
        )
        .on_conflict_do_nothing()
        .returning(IntegrationCall.id)
    ).scalar_one_or_none()


def queue_follow_ups(session: Session, alert: Alert, *, action: str, actor: str) -> list[uuid.UUID]:
    """``acknowledge`` / ``resolve`` for every target this alert's trigger was meant for (and
    did not die on): nothing goes to a system the alert never reached."""
    targets = session.scalars(
        select(IntegrationCall.target).where(
            IntegrationCall.alert_id == alert.id,
            IntegrationCall.action == "trigger",
            IntegrationCall.state != "dead",
        )
    ).all()
    created = [
        queue_call(session, alert, target=target, action=action, actor=actor)
        for target in sorted(targets)
    ]
    return [call_id for call_id in created if call_id is not None]


def run_integration_call(
    call_id: uuid.UUID, *, token: str, settings: Settings, box: SecretBox
) -> CallResult:
    with session_scope() as session:
        claim = _claim(session, call_id, token, settings, box)
    if isinstance(claim, CallResult):
        return claim
    tenant_id, target, send = claim
    try:
        response: dict[str, Any] | IntegrationError = send()
    except IntegrationError as exc:
        response = exc
    with session_scope() as session:
        result = _record(session, call_id, token, response, settings)
    INTEGRATION_CALLS.labels(
        tenant=tenant_id, target=target, outcome=OUTCOME_LABELS.get(result.state, result.state)
    ).inc()
    return result


Send = Callable[[], dict[str, Any]]


def _claim(
    session: Session, call_id: uuid.UUID, token: str, settings: Settings, box: SecretBox
) -> tuple[str, str, Send] | CallResult:
    call = session.execute(
        select(IntegrationCall).where(IntegrationCall.id == call_id).with_for_update()
    ).scalar_one_or_none()
    if call is None:
        return CallResult("missing")
    if call.state in FINAL_STATES:
        return CallResult(call.state)
    current = now()
    if (
        call.state == "sending"
        and call.claim_token != token
        and call.claimed_at is not None
        and current - call.claimed_at < timedelta(seconds=claim_stale_seconds(settings))
    ):
        return CallResult("sending")  # another task is sending it right now
    if call.next_attempt_at and call.next_attempt_at > current + timedelta(seconds=1):
        # An early duplicate (sweeper) of a call scheduled later: keep the schedule.
        return CallResult(call.state)
    if call.action != "trigger":
        blocked = _wait_for_earlier(session, call, settings)
        if blocked is not None:
            return blocked
    tenant = load_tenant(session, call.tenant_id, box)
    alert = session.get_one(Alert, call.alert_id)
    try:
        send = _request(call, alert, tenant, settings)
    except PermanentError as exc:
        return _dead(session, call, exc.reason)
    call.state = "sending"
    call.claim_token = token
    call.claimed_at = current
    call.attempts += 1
    call.updated_at = current
    return call.tenant_id, call.target, send


def _wait_for_earlier(
    session: Session, call: IntegrationCall, settings: Settings
) -> CallResult | None:
    earlier = session.scalars(
        select(IntegrationCall).where(
            IntegrationCall.alert_id == call.alert_id,
            IntegrationCall.target == call.target,
            IntegrationCall.action.in_(
                [a for a, order in ACTION_ORDER.items() if order < ACTION_ORDER[call.action]]
            ),
        )
    ).all()
    trigger = next((c for c in earlier if c.action == "trigger"), None)
    if trigger is None or trigger.state == "dead":
        return _dead(session, call, f"the trigger never reached {call.target}")
    unfinished = [c for c in earlier if c.state not in FINAL_STATES]
    if not unfinished:
        return None
    current = now()
    due = max((c.next_attempt_at or current) for c in unfinished)
    wait = min(
        max(MIN_WAIT_SECONDS, (due - current).total_seconds() + MIN_WAIT_SECONDS),
        settings.retry_max_seconds,
    )
    first_wait = call.last_error is None
    call.state = "pending"
    call.next_attempt_at = current + timedelta(seconds=wait)
    call.last_error = f"waiting for the {unfinished[0].action} to be sent"
    call.updated_at = current
    if first_wait:
        _audit(session, call, "integration.waiting", behind=unfinished[0].action)
    return CallResult("pending", retry_in=round(wait, 3))


def _request(call: IntegrationCall, alert: Alert, tenant: TenantRecord, settings: Settings) -> Send:
    """The HTTP call to make, with its secrets inside (never returned, logged or stored)."""
    integrations = tenant.config.integrations
    by = call.actor
    if call.target == "pagerduty":
        pd = integrations.pagerduty
        if pd is None:
            raise PermanentError("integrations.pagerduty is not configured any more")
        key = pd.routing_key.get_secret_value()
        if call.action == "trigger":
            event = pagerduty.trigger_event(
                alert_view(alert, tenant), routing_key=key, fingerprint=alert.fingerprint
            )
        else:
            event = pagerduty.follow_up_event(
                "acknowledge" if call.action == "acknowledge" else "resolve",
                routing_key=key,
                tenant_id=alert.tenant_id,
                fingerprint=alert.fingerprint,
            )
        client = pagerduty.PagerDutyClient(
            settings.pagerduty_events_url, timeout=settings.integration_timeout
        )
        return lambda: {"dedup_key": client.send(event)}
    sn = integrations.servicenow
    if sn is None:
        raise PermanentError("integrations.servicenow is not configured any more")
    sn_client = servicenow.ServiceNowClient(
        sn.instance_url,
        sn.username,
        sn.password.get_secret_value(),
        timeout=settings.integration_timeout,
    )
    if call.action == "trigger":
        body = servicenow.new_incident(
            alert_view(alert, tenant),
            correlation_id=pagerduty.dedup_key(alert.tenant_id, alert.fingerprint),
            assignment_group=sn.assignment_group,
            caller_id=sn.caller_id,
        )

        def create() -> dict[str, Any]:
            incident = sn_client.create_incident(body)
            return {"number": incident.number, "sys_id": incident.sys_id}

        return create
    sys_id = alert.servicenow_sys_id
    if sys_id is None:
        raise PermanentError("the alert has no ServiceNow incident to update")
    update = (
        servicenow.acknowledged_update(by)
        if call.action == "acknowledge"
        else servicenow.resolved_update(by)
    )

    def patch() -> dict[str, Any]:
        sn_client.update_incident(sys_id, update)
        return {"sys_id": sys_id}

    return patch


def _record(
    session: Session,
    call_id: uuid.UUID,
    token: str,
    response: dict[str, Any] | IntegrationError,
    settings: Settings,
) -> CallResult:
    call = session.execute(
        select(IntegrationCall).where(IntegrationCall.id == call_id).with_for_update()
    ).scalar_one()
    if call.claim_token != token or call.state != "sending":
        return CallResult(call.state)  # taken over after going stale; the holder records
    current = now()
    call.claim_token = None
    call.updated_at = current
    if not isinstance(response, IntegrationError):
        call.state = "sent"
        call.sent_at = current
        call.last_error = None
        call.response = response
        if call.target == "servicenow" and call.action == "trigger":
            alert = session.get_one(Alert, call.alert_id)
            alert.servicenow_number = response["number"]
            alert.servicenow_sys_id = response["sys_id"]
            alert.updated_at = current
        _audit(session, call, "integration.sent", attempt=call.attempts, **_shown(response))
        return CallResult("sent")
    if isinstance(response, PermanentError):
        return _dead(session, call, response.reason, status=response.status)
    if call.attempts >= settings.integration_max_attempts:
        return _dead(
            session,
            call,
            f"gave up after {call.attempts} attempts: {response.reason}",
            status=response.status,
        )
    asked = response.retry_after if isinstance(response, RateLimited) else None
    wait = (
        asked
        if asked is not None
        else retry_countdown(
            call.attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
        )
    )
    # Never past the broker's visibility timeout, or Redis would deliver the retry twice.
    wait = max(0.1, min(wait, settings.retry_max_seconds))
    call.state = "retrying"
    call.last_error = response.reason
    call.next_attempt_at = current + timedelta(seconds=wait)
    _audit(
        session,
        call,
        "integration.retry",
        attempt=call.attempts,
        status=response.status,
        reason=response.reason,
        retry_in=wait,
    )
    return CallResult("retrying", retry_in=wait)


def _shown(response: dict[str, Any]) -> dict[str, Any]:
    """What of an answer goes to the audit log (identifiers, never credentials)."""
    return {key: response[key] for key in ("dedup_key", "number", "sys_id") if key in response}


def _dead(
    session: Session, call: IntegrationCall, reason: str, *, status: int | None = None
) -> CallResult:
    call.state = "dead"
    call.last_error = reason
    call.claim_token = None
    call.updated_at = now()
    _audit(session, call, "integration.dead", attempt=call.attempts, status=status, reason=reason)
    log.warning(
        "integration call %s (%s %s) is dead: %s", call.id, call.target, call.action, reason
    )
    return CallResult("dead")


def _audit(session: Session, call: IntegrationCall, action: str, **detail: object) -> None:
    audit(
        session,
        tenant_id=call.tenant_id,
        alert_id=call.alert_id,
        actor=ACTOR,
        action=action,
        call_id=str(call.id),
        target=call.target,
        call_action=call.action,
        **detail,
    )
