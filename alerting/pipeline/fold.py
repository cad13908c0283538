"""Adaptive digests: under pressure a channel's waiting alerts fold into one digest message.

No configuration: when a new alert's own message (or an escalation page) would wait for its
posting slot longer than ``ALERTING_MAX_WAIT`` (its place in line, see
``alerting/ratelimit.py``), delivery folds it instead. Folding is one transaction: the
notification becomes ``folded`` (a final state, so no task posts it afterwards) and its alert
joins the channel's *pressure group*, an ordinary ``alert_groups`` row that beat's group flush
tells like any other group: the first digest at the next tick, then at most every
``FOLD_INTERVAL`` seconds while members join, acknowledge or resolve. In Web API mode the
digest is one message rewritten in place with a thread line per update naming what is new,
resolved or acknowledged; with a webhook each update is a new message, spaced by the tenant's
own rate.

Criticals fold only among themselves (their own group, and only when criticals alone make the
line too long, since a critical's place in line counts only what is at least as urgent), so a
critical is never folded behind warnings. A pressure episode lasts while folds keep coming: its
group is remembered in Redis for ``EPISODE_SECONDS`` after the last fold, so a storm that comes
back soon updates the same digest, and a later one opens a new digest. An alert whose slot is
near (the pressure is gone) never folds: it gets a message of its own again at once. The
episode's group stays open to tell its members' acknowledgements and resolutions in its thread.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.breaker import redis_client
from alerting.db.models import Alert, Notification
from alerting.db.repositories import audit, now
from alerting.domain.priority import fold_band
from alerting.domain.views import NotificationKind
from alerting.pipeline.grouping import PRESSURE_PREFIX, GroupSpec, join_group
from alerting.settings import Settings

#: Route path prefix of pressure groups: ``fold:<channel>:<band>:<episode>``.
FOLD_ROUTE_PREFIX = PRESSURE_PREFIX
#: Seconds between two updates of a pressure digest (Web API: a ``chat.update`` and a thread
#: line, which keeps to the channel's pace).
FOLD_INTERVAL = 2.0
#: Seconds after the last fold during which further folds join the same digest. Only folds
#: are grouped by it: an alert whose slot is near never folds, so it gets its own message as
#: soon as the pressure is gone, whatever this says.
EPISODE_SECONDS = 300.0
#: Reminder of a pressure digest whose members still fire, as Alertmanager's default.
FOLD_REPEAT_SECONDS = 4 * 3600.0
_EPISODE_KEY = "alerting:fold:{tenant}:{channel}:{band}"


def fold_notification(
    session: Session,
    notification_id: uuid.UUID,
    token: str,
    settings: Settings,
    *,
    rate_limit: int,
    webhook: bool,
) -> bool:
    """Fold a claimed firing notification into its channel's digest. False: the claim is no
    longer this task's (nothing changed)."""
    n = session.execute(
        select(Notification).where(Notification.id == notification_id).with_for_update()
    ).scalar_one_or_none()
    if n is None or n.state != "sending" or n.claim_token != token:
        return False
    alert = session.get_one(Alert, n.alert_id)
    # Pages share the criticals' band: they fold only among pages and criticals.
    band = "critical" if n.kind == NotificationKind.ESCALATED.value else fold_band(alert.severity)
    episode = _episode(n.tenant_id, n.channel, band, settings)
    spec = GroupSpec(
        route_path=f"{FOLD_ROUTE_PREFIX}{n.channel}:{band}:{episode}",
        group_by=("channel", "severity") if band == "critical" else ("channel",),
        channels=(n.channel,),
        group_wait=0.0,
        # With a webhook every update is a new message: no more often than the tenant's pace.
        group_interval=max(FOLD_INTERVAL, 60.0 / rate_limit) if webhook else FOLD_INTERVAL,
        repeat_interval=FOLD_REPEAT_SECONDS,
    )
    group_id = join_group(session, alert, spec, {"channel": n.channel, "severity": "critical"})
    current = now()
    n.state = "folded"
    n.group_id = group_id
    n.claim_token = None
    n.next_attempt_at = None
    n.updated_at = current
    audit(
        session,
        tenant_id=n.tenant_id,
        alert_id=n.alert_id,
        actor="system:delivery",
        action="notification.folded",
        notification_id=str(n.id),
        channel=n.channel,
        group_id=str(group_id),
    )
    return True


def is_pressure_group(route_path: str) -> bool:
    return route_path.startswith(FOLD_ROUTE_PREFIX)


def _episode(tenant_id: str, channel: str, band: str, settings: Settings) -> str:
    """The current pressure episode of a channel and band, kept alive by each fold."""
    client = redis_client(settings.require_redis_url())
    key = _EPISODE_KEY.format(tenant=tenant_id, channel=channel, band=band)
    ttl = round(max(EPISODE_SECONDS, settings.max_wait_seconds) * 1000)
    fresh = uuid.uuid4().hex
    while True:
        if client.set(key, fresh, nx=True, px=ttl):
            return fresh
        running = client.get(key)
        if running is not None:  # else it ended between the two calls: start one
            client.pexpire(key, ttl)
            return running.decode() if isinstance(running, bytes) else str(running)
