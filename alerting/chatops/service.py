"""What a Slack request does, on a worker: one request, one transaction, one answer.

A request (:class:`ChatopsRequest`) is primitives only, as the web app queued it. The result
(:class:`Outcome`) is the answer for the caller alone and the work to enqueue after commit:
lifecycle events to route (which updates the alert's Slack message in place, as any change
does), escalation notifications to deliver, integration calls to send.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from alerting.chatops.commands import USAGE, Command, CommandError, Verb, parse_command
from alerting.chatops.permissions import ChatopsConfig, Permission, decide
from alerting.db.models import Alert, AlertMessage, AuditEntry, Silence, Tenant
from alerting.db.repositories import audit, now
from alerting.domain.durations import format_duration
from alerting.domain.errors import InvalidInput
from alerting.domain.matchers import alert_facts, matches_all
from alerting.domain.muting import SilenceSpec
from alerting.domain.oncall import who_is_on_call
from alerting.i18n import FALLBACK_LOCALE, SUPPORTED_LOCALES, Translator, translator
from alerting.pipeline.escalation import escalate_now, oncall_schedules
from alerting.pipeline.lifecycle import InvalidTransition, acknowledge_alert, resolve_alert
from alerting.pipeline.silences import create_silence, expire_silence, silence_alert


def _(msgid: str) -> str:
    """Marks a string for the catalogs; translated where it is shown."""
    return msgid


#: Alerts one ``list`` answer shows; the rest are counted.
LIST_LIMIT = 20
#: Longest resolution note kept, in characters.
MAX_NOTE_CHARS = 3000

#: Button and modal actions a request may carry, and the permission each needs.
ACTION_PERMISSIONS: dict[str, Permission] = {
    "acknowledge": Permission.ACK,
    "resolve": Permission.RESOLVE,
    "silence": Permission.SILENCE,
    "escalate": Permission.ESCALATE,
    "note": Permission.RESOLVE,
}
_VERB_PERMISSIONS = {
    Verb.ACK: Permission.ACK,
    Verb.RESOLVE: Permission.RESOLVE,
    Verb.SILENCE: Permission.SILENCE,
    Verb.UNSILENCE: Permission.SILENCE,
    Verb.ESCALATE: Permission.ESCALATE,
}
_PERMISSION_WORDS = {
    Permission.ACK: _("acknowledge alerts"),
    Permission.RESOLVE: _("resolve alerts"),
    Permission.SILENCE: _("silence alerts"),
    Permission.ESCALATE: _("escalate alerts"),
}
_STATUS_WORDS = {
    "firing": _("firing"),
    "acknowledged": _("acknowledged"),
    "resolved": _("resolved"),
}


@dataclass(frozen=True, slots=True)
class ChatopsRequest:
    tenant_id: str
    user_id: str
    user_name: str
    #: "command", "action" (a button), "view" (a modal submitted), "shortcut".
    kind: str
    text: str = ""
    command: str = ""
    action: str = ""
    alert_id: str = ""
    seconds: float | None = None
    comment: str = ""
    response_url: str | None = None
    #: The message shortcut: the message it was used on (its thread's root finds the alert).
    channel_id: str = ""
    message_ts: str = ""

    @property
    def actor(self) -> str:
        return f"@{self.user_name}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatopsRequest:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Outcome:
    #: What the caller alone is told (mrkdwn).
    text: str
    #: (tenant id, event id) to route after commit.
    events: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    #: (tenant id, notification id) to deliver after commit.
    deliveries: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    #: (tenant id, integration call id) to send after commit.
    integration_calls: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    #: "changed", "unchanged", "refused", "invalid".
    result: str = "unchanged"
    #: (transition, seconds since the alert fired) for the time-to metrics.
    timings: list[tuple[str, float]] = field(default_factory=list)


#: A group's members, asked of Slack when a rule names groups (``usergroups.users.list``).
GroupMembers = Callable[[str], set[str]]


class _Refused(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def handle(session: Session, request: ChatopsRequest, members: GroupMembers) -> Outcome:
    """Carry the request out for its tenant; the caller commits and runs the follow-ups."""
    row = session.get(Tenant, request.tenant_id)
    config = row.config if row is not None else {}
    chatops = ChatopsConfig.model_validate(config.get("chatops") or {})
    languages = (config.get("slack_config") or {}).get("languages") or [FALLBACK_LOCALE]
    locale = languages[0] if languages[0] in SUPPORTED_LOCALES else FALLBACK_LOCALE
    job = _Job(session, request, chatops, translator(locale), members)
    try:
        outcome = job.run()
    except CommandError as exc:
        outcome = Outcome(job.bad_input(exc), result="invalid")
    except _Refused as exc:
        outcome = Outcome(exc.text, result="refused")
    audit(
        session,
        tenant_id=request.tenant_id,
        actor=request.actor,
        action=f"chatops.{request.kind}",
        alert_id=job.alert_uuid,
        slack_user_id=request.user_id,
        text=request.text[:200] if request.kind == "command" else request.action,
        result=outcome.result,
    )
    return outcome


class _Job:
    def __init__(
        self,
        session: Session,
        request: ChatopsRequest,
        chatops: ChatopsConfig,
        tr: Translator,
        members: GroupMembers,
    ) -> None:
        self.session = session
        self.request = request
        self.chatops = chatops
        self.tr = tr
        self.members = members
        self.alert_uuid: uuid.UUID | None = None

    # --- entry ---

    def run(self) -> Outcome:
        request = self.request
        if request.kind == "command":
            return self.command(parse_command(request.text))
        if request.kind == "shortcut":
            alert = self.alert_of_message(request.channel_id, request.message_ts)
        else:
            alert = self.alert(request.alert_id, Verb.SHOW)
        if request.action not in ACTION_PERMISSIONS:
            raise _Refused(self.tr.gettext("This button is not one of this app's."))
        self.allow(ACTION_PERMISSIONS[request.action])
        if request.action == "acknowledge":
            return self.acknowledge(alert)
        if request.action == "resolve":
            return self.resolve(alert, "")
        if request.action == "silence":
            return self.silence_alert(alert, request.seconds or 3600, request.comment)
        if request.action == "escalate":
            return self.escalate(alert)
        return self.note(alert, request.comment)

    def command(self, command: Command) -> Outcome:
        permission = _VERB_PERMISSIONS.get(command.verb)
        if permission is not None:
            self.allow(permission)
        verb = command.verb
        if verb is Verb.HELP:
            return Outcome(self.help())
        if verb is Verb.LIST:
            return Outcome(self.list_alerts(command))
        if verb is Verb.ONCALL:
            return Outcome(self.oncall(command.schedule))
        if verb is Verb.INCIDENTS:
            return Outcome(self.list_incidents())
        if verb is Verb.SILENCE:
            return self.silence_matchers(command)
        if verb is Verb.UNSILENCE:
            return self.unsilence(command)
        alert = self.alert(command.target or "", verb)
        if verb is Verb.SHOW:
            return Outcome(self.show(alert))
        if verb is Verb.ACK:
            return self.acknowledge(alert)
        if verb is Verb.RESOLVE:
            return self.resolve(alert, command.text)
        return self.escalate(alert)

    # --- checks ---

    def bad_input(self, exc: CommandError) -> str:
        values = {k: str(v) for k, v in exc.values.items()}
        reason = self.tr.gettext(exc.reason, **values)
        usage = f"{self.chatops.command} {exc.usage}"
        return self.tr.gettext("%(reason)s Usage: %(usage)s", reason=reason, usage=f"`{usage}`")

    def allow(self, permission: Permission) -> None:
        rule = self.chatops.permissions.get(permission)
        member_of: set[str] = set()
        if rule is not None and self.request.user_id not in rule.users:
            for group in rule.groups:
                if self.request.user_id in self.members(group):
                    member_of.add(group)
                    break
        decision = decide(self.chatops, permission, self.request.user_id, member_of)
        if decision.allowed or decision.rule is None:
            return
        who = [f"<@{u}>" for u in decision.rule.users]
        who += [f"<!subteam^{g}>" for g in decision.rule.groups]
        raise _Refused(
            self.tr.gettext(
                "You may not %(what)s here: this tenant allows %(who)s.",
                what=self.tr.gettext(_PERMISSION_WORDS[permission]),
                who=", ".join(who) or self.tr.gettext("nobody"),
            )
        )

    def alert(self, ident: str, verb: Verb) -> Alert:
        alert = _by_prefix(self.session, Alert, self.request.tenant_id, ident)
        if alert is None:
            raise CommandError(_("No alert %(word)s."), USAGE[verb], word=f"`{ident}`")
        if alert is _AMBIGUOUS:
            raise CommandError(
                _("%(word)s matches several alerts: give more characters."),
                USAGE[verb],
                word=f"`{ident}`",
            )
        assert isinstance(alert, Alert)
        self.alert_uuid = alert.id
        return alert

    def alert_of_message(self, channel_id: str, ts: str) -> Alert:
        alert_id = self.session.scalar(
            select(AlertMessage.alert_id)
            .where(
                AlertMessage.tenant_id == self.request.tenant_id,
                AlertMessage.channel_id == channel_id,
                or_(AlertMessage.ts == ts, AlertMessage.thread_ts == ts),
            )
            .order_by(AlertMessage.id.desc())
            .limit(1)
        )
        if alert_id is None:
            raise _Refused(self.tr.gettext("This message is not in an alert's thread."))
        return self.alert(str(alert_id), Verb.SHOW)

    # --- changes ---

    def acknowledge(self, alert: Alert) -> Outcome:
        short = _short(alert.id)
        try:
            result = acknowledge_alert(
                self.session, alert.id, by=self.request.actor, tenant_id=alert.tenant_id
            )
        except InvalidTransition:
            return Outcome(
                self.tr.gettext(
                    "Alert %(id)s is already resolved by %(who)s.",
                    id=short,
                    who=alert.resolved_by or "?",
                )
            )
        if result.event_id is None:
            return Outcome(
                self.tr.gettext(
                    "Alert %(id)s was already acknowledged by %(who)s.",
                    id=short,
                    who=alert.acknowledged_by or "?",
                )
            )
        return self._changed(
            self.tr.gettext("You acknowledged alert %(id)s.", id=short),
            alert.tenant_id,
            result.event_id,
            result.integration_calls,
            ("acknowledged", result.elapsed),
        )

    def resolve(self, alert: Alert, note: str) -> Outcome:
        short = _short(alert.id)
        result = resolve_alert(
            self.session, alert.id, by=self.request.actor, tenant_id=alert.tenant_id
        )
        if note:
            self._store_note(alert, note)
        if result.event_id is None:
            return Outcome(
                self.tr.gettext(
                    "Alert %(id)s was already resolved by %(who)s.",
                    id=short,
                    who=alert.resolved_by or "?",
                ),
                result="changed" if note else "unchanged",
            )
        return self._changed(
            self.tr.gettext("You resolved alert %(id)s.", id=short),
            alert.tenant_id,
            result.event_id,
            result.integration_calls,
            ("resolved", result.elapsed),
        )

    def note(self, alert: Alert, note: str) -> Outcome:
        if not note.strip():
            return Outcome(self.tr.gettext("That message has no text to keep as a note."))
        self._store_note(alert, note)
        return Outcome(
            self.tr.gettext("Resolution note stored on alert %(id)s.", id=_short(alert.id)),
            result="changed",
        )

    def _store_note(self, alert: Alert, note: str) -> None:
        audit(
            self.session,
            tenant_id=alert.tenant_id,
            alert_id=alert.id,
            actor=self.request.actor,
            action="alert.resolution_note",
            note=note[:MAX_NOTE_CHARS],
        )

    def silence_alert(self, alert: Alert, seconds: float, comment: str) -> Outcome:
        short = _short(alert.id)
        try:
            made = silence_alert(
                self.session,
                alert.tenant_id,
                alert.id,
                by=self.request.actor,
                seconds=seconds,
                comment=comment or "Silenced from Slack",
            )
        except InvalidInput as exc:
            return Outcome(str(exc), result="invalid")
        if made is None:
            return Outcome(self.tr.gettext("Alert %(id)s is already resolved.", id=short))
        silence, event_id = made
        until = self.tr.datetime(silence.ends_at)
        if event_id is None:
            return Outcome(
                self.tr.gettext(
                    "Alert %(id)s is already silenced until %(until)s by %(who)s.",
                    id=short,
                    until=until,
                    who=silence.created_by,
                )
            )
        return self._changed(
            self.tr.gettext("You silenced alert %(id)s until %(until)s.", id=short, until=until),
            alert.tenant_id,
            event_id,
        )

    def silence_matchers(self, command: Command) -> Outcome:
        try:
            spec = SilenceSpec(
                matchers=list(command.matchers),
                duration=command.duration,
                created_by=self.request.actor,
                comment=command.text,
            )
            silence = create_silence(
                self.session, self.request.tenant_id, spec, where=self.chatops.command
            )
        except (InvalidInput, ValueError) as exc:
            raise CommandError(str(exc), USAGE[Verb.SILENCE]) from None
        return Outcome(
            self.tr.gettext(
                "Silence %(id)s made: %(matchers)s for %(duration)s.",
                id=_short(silence.id),
                matchers=" ".join(f"`{m}`" for m in silence.matchers),
                duration=format_duration(command.duration or 0),
            ),
            result="changed",
        )

    def unsilence(self, command: Command) -> Outcome:
        found = _by_prefix(self.session, Silence, self.request.tenant_id, command.target or "")
        if found is None or found is _AMBIGUOUS:
            raise CommandError(
                _("No silence %(word)s.") if found is None else _("%(word)s is ambiguous."),
                USAGE[Verb.UNSILENCE],
                word=f"`{command.target}`",
            )
        assert isinstance(found, Silence)
        silence, changed = expire_silence(
            self.session, self.request.tenant_id, found.id, by=self.request.actor
        )
        short = _short(silence.id)
        if not changed:
            return Outcome(self.tr.gettext("Silence %(id)s had already ended.", id=short))
        return Outcome(self.tr.gettext("Silence %(id)s ended.", id=short), result="changed")

    def escalate(self, alert: Alert) -> Outcome:
        short = _short(alert.id)
        if alert.status != "firing":
            return Outcome(
                self.tr.gettext("Alert %(id)s is not firing: nothing to escalate.", id=short)
            )
        # The alert row first, as every other change takes it: no lock-order inversion.
        self.session.refresh(alert, with_for_update=True)
        result = escalate_now(self.session, alert, actor=self.request.actor)
        if result.outcome == "none":
            return Outcome(self.tr.gettext("Alert %(id)s has no escalation running.", id=short))
        if result.outcome == "already":
            return Outcome(
                self.tr.gettext(
                    "Alert %(id)s was just escalated by %(who)s (level %(level)s).",
                    id=short,
                    who=result.by or "?",
                    level=str(result.level),
                )
            )
        if result.outcome != "escalated":
            return Outcome(self.tr.gettext("Alert %(id)s did not escalate: it is muted.", id=short))
        outcome = Outcome(
            self.tr.gettext(
                "You escalated alert %(id)s to level %(level)s.", id=short, level=str(result.level)
            ),
            result="changed",
        )
        outcome.deliveries = list(result.notifications)
        outcome.integration_calls = list(result.integration_calls)
        return outcome

    def _changed(
        self,
        text: str,
        tenant_id: str,
        event_id: uuid.UUID,
        calls: tuple[uuid.UUID, ...] = (),
        timing: tuple[str, float | None] | None = None,
    ) -> Outcome:
        outcome = Outcome(text, [(tenant_id, event_id)], result="changed")
        outcome.integration_calls = [(tenant_id, c) for c in calls]
        if timing is not None and timing[1] is not None:
            outcome.timings.append((timing[0], timing[1]))
        return outcome

    # --- reads ---

    def help(self) -> str:
        lines = [self.tr.gettext("What %(command)s does:", command=self.chatops.command)]
        lines += [f"• `{self.chatops.command} {USAGE[verb]}`" for verb in Verb]
        return "\n".join(lines)

    def list_alerts(self, command: Command) -> str:
        statuses = [command.status] if command.status else ["firing", "acknowledged"]
        alerts = self.session.scalars(
            select(Alert)
            .where(Alert.tenant_id == self.request.tenant_id, Alert.status.in_(statuses))
            .order_by(Alert.last_seen_at.desc())
            .limit(1000)
        ).all()
        matching = [
            a
            for a in alerts
            if matches_all(
                command.matchers,
                alert_facts(
                    alert_type=a.alert_type,
                    severity=a.severity,
                    environment=a.environment,
                    labels=a.labels,
                ),
            )
        ]
        if not matching:
            return self.tr.gettext("No open alerts match.")
        lines = [self.tr.gettext("%(count)s open alerts:", count=str(len(matching)))]
        for alert in matching[:LIST_LIMIT]:
            lines.append(self._line(alert))
        if len(matching) > LIST_LIMIT:
            lines.append(
                self.tr.gettext("… and %(count)s more.", count=str(len(matching) - LIST_LIMIT))
            )
        return "\n".join(lines)

    def list_incidents(self) -> str:
        """The tenant's open incidents (alerts correlated by a shared cause), newest first."""
        from alerting.pipeline.correlate import list_incidents

        found = list_incidents(
            self.session, self.request.tenant_id, statuses=("firing", "acknowledged")
        )
        if not found:
            return self.tr.gettext("No open incidents.")
        lines = [self.tr.gettext("%(count)s open incidents:", count=str(len(found)))]
        for incident in found[:LIST_LIMIT]:
            root = incident["root_cause"]
            cause = " " + self.tr.gettext("(root cause: %(service)s)", service=_plain(root))
            lines.append(
                f"• `{incident['id'][:8]}` {_EMOJI.get(incident['severity'], '')}"
                f" *{_plain(incident['title'])}*"
                f" _{self.tr.gettext(_STATUS_WORDS.get(incident['status'], incident['status']))},"
                f" {len(incident['alert_ids'])}_" + (cause if root else "")
            )
        if len(found) > LIST_LIMIT:
            lines.append(
                self.tr.gettext("… and %(count)s more.", count=str(len(found) - LIST_LIMIT))
            )
        return "\n".join(lines)

    def _line(self, alert: Alert) -> str:
        status = self.tr.gettext(_STATUS_WORDS.get(alert.status, alert.status))
        return (
            f"• `{_short(alert.id)}` {_EMOJI.get(alert.severity, '')} *{_plain(alert.alert_type)}*"
            f" {_plain(alert.message)[:120]} _({status}, {self.tr.ago(alert.last_seen_at)})_"
        )

    def show(self, alert: Alert) -> str:
        tr = self.tr
        lines = [self._line(alert)]
        lines.append(
            tr.gettext(
                "%(severity)s in %(environment)s, %(count)s times since %(since)s.",
                severity=tr.gettext(alert.severity.upper()),
                environment=alert.environment or "-",
                count=str(alert.count),
                since=tr.datetime(alert.first_seen_at),
            )
        )
        if alert.acknowledged_by:
            lines.append(tr.gettext("Acknowledged by %(who)s", who=alert.acknowledged_by))
        if alert.resolved_by:
            lines.append(tr.gettext("Resolved by %(who)s", who=alert.resolved_by))
        if alert.labels:
            lines.append(
                " ".join(f"`{_plain(str(k))}={_plain(str(v))}`" for k, v in alert.labels.items())
            )
        note = self.session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.tenant_id == alert.tenant_id,
                AuditEntry.alert_id == alert.id,
                AuditEntry.action == "alert.resolution_note",
            )
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).first()
        if note is not None:
            lines.append(
                tr.gettext(
                    "Resolution note by %(who)s: %(note)s",
                    who=note.actor,
                    note=_plain(str(note.detail.get("note", ""))),
                )
            )
        return "\n".join(lines)

    def oncall(self, name: str | None) -> str:
        schedules = oncall_schedules(self.session, self.request.tenant_id)
        if not schedules:
            return self.tr.gettext("This tenant has no on-call schedule.")
        if name is not None and name not in schedules:
            raise CommandError(
                _("No schedule %(word)s; there are: %(names)s."),
                USAGE[Verb.ONCALL],
                word=f"`{name}`",
                names=", ".join(sorted(schedules)),
            )
        current = now()
        lines = []
        for schedule_name in [name] if name else sorted(schedules):
            shift = who_is_on_call(schedules[schedule_name], current)
            who = f"<@{shift.user}>" if shift.user else self.tr.gettext("nobody")
            if shift.until is not None:
                lines.append(
                    self.tr.gettext(
                        "%(schedule)s: %(who)s until %(until)s",
                        schedule=schedule_name,
                        who=who,
                        until=self.tr.datetime(shift.until),
                    )
                )
            else:
                lines.append(f"{schedule_name}: {who}")
        return "\n".join(lines)


_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
_AMBIGUOUS: Any = object()


def _short(ident: uuid.UUID) -> str:
    return str(ident)[:8]


def _plain(text: str) -> str:
    """Tenant text inside an answer: Slack's control characters escaped, never markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _by_prefix(session: Session, model: Any, tenant_id: str, ident: str) -> Any:
    """The tenant's row whose id starts with ``ident`` (the list shows 8 characters); None, or
    ``_AMBIGUOUS`` when several do. Another tenant's rows are never found."""
    ident = ident.strip().lower()
    if not ident:
        return None
    rows = session.scalars(
        select(model)
        .where(model.tenant_id == tenant_id, cast(model.id, String).startswith(ident))
        .limit(2)
    ).all()
    if not rows:
        return None
    return rows[0] if len(rows) == 1 else _AMBIGUOUS
