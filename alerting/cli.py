"""The ``alerting`` command: run the stack, send and manage alerts, tenants, database."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from alerting.anomalies_cli import anomalies
from alerting.authz import SCOPES
from alerting.cli_errors import AlertingGroup, fail, set_debug
from alerting.cli_incidents import incidents as incidents_group
from alerting.dead_letters_cli import dead_letters
from alerting.domain.errors import AlertingError, InvalidInput
from alerting.settings import get_settings
from alerting.terminal import inert, inert_str
from alerting.users_cli import users

console = Console()
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> None:
    fail(message, code)


def _require_services() -> None:
    """Refuse to start a server without its services (one clear line, not a crash later)."""
    settings = get_settings()
    settings.require_postgres_url()
    settings.require_redis_url()


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key] = value
    return out


@click.group(cls=AlertingGroup)
@click.option("--debug", is_flag=True, help="Show the Python traceback of a failure.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Multi-tenant Slack alerting on Celery.

    Services: POSTGRES_URL and REDIS_URL, when set. When they are unset, every command but `up`
    uses the ones a running `alerting up` (or `make run`) of this folder recorded in
    .alerting/services.json, so a second terminal needs nothing exported.

    Exit codes: 0 done, 1 the operation failed (or a check found problems in config files),
    2 bad input (options, values, unknown tenant),
    3 PostgreSQL or Redis missing or not answering, 130 interrupted. A failure is one line on
    stderr; `alerting --debug <command>` shows its traceback.
    """
    set_debug(debug)
    if ctx.invoked_subcommand != "up":
        from alerting.local_stack import use_running_stack

        if use_running_stack(get_settings().data_dir) is not None:
            get_settings.cache_clear()


# --- running the stack -----------------------------------------------------------------


@main.command()
@click.option(
    "--sandbox/--no-sandbox",
    default=None,
    help="Start the Slack sandbox (default: when no Slack credentials are set).",
)
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
def up(sandbox: bool | None, concurrency: int) -> None:
    """Start it all: embedded services if needed, migrations, tenants, web, worker, beat, flower."""
    from alerting.stack import run_stack

    sys.exit(run_stack(sandbox=sandbox, concurrency=concurrency))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--tenants", default="", help="Serve only these tenants (comma separated): a dedicated pool."
)
@click.option("--exclude-tenants", default="", help="Serve every tenant but these.")
@click.option(
    "--concurrency", "-c", type=int, default=None, help="Worker processes (default: CPUs)."
)
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.pass_context
def worker(
    ctx: click.Context, tenants: str, exclude_tenants: str, concurrency: int | None, loglevel: str
) -> None:
    """Run a Celery worker on ingest and tenant queues. Extra options go to `celery worker`.

    Each tenant has two queues, `alerts.t.<tenant>.urgent` (critical and error events,
    escalation levels, acknowledgements) and `alerts.t.<tenant>`; the urgent lanes are
    consumed first."""
    _require_services()
    from workers.app import app
    from workers.pools import PoolSpec, follow_new_tenants, known_tenants

    only = frozenset(t.strip() for t in tenants.split(",") if t.strip())
    exclude = frozenset(t.strip() for t in exclude_tenants.split(",") if t.strip())
    if only and exclude:
        _fail("--tenants and --exclude-tenants cannot be combined")
    spec = PoolSpec(only=only, exclude=exclude)
    known = known_tenants()
    unknown = sorted(only - set(known))
    if unknown:
        click.echo(inert_str(f"warning: tenants not synced yet: {', '.join(unknown)}"), err=True)
    queues = spec.queues(known)
    name = "shared" if spec.shared else "tenants-" + "-".join(sorted(only))
    # The pid keeps node names unique when several pools run on one host.
    argv = ["worker", "-Q", ",".join(queues), "-n", f"{name}-{os.getpid()}@%h", "-l", loglevel]
    if concurrency:
        argv += ["-c", str(concurrency)]
    argv += list(ctx.args)
    if spec.shared:
        follow_new_tenants(app, spec, {q.removeprefix("alerts.t.") for q in queues})
    app.worker_main(argv)


@main.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run Celery beat (escalation ticks, group flushes, the sweeper). Run two for high
    availability: the one holding a PostgreSQL lock schedules, the other takes over."""
    _require_services()
    from workers.app import app

    app.start(["beat", "-l", loglevel, "-S", "workers.beat:LockedScheduler"])


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def web(host: str | None, port: int | None) -> None:
    """Run the HTTP API (ingest, lifecycle, /metrics)."""
    _require_services()
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "alerting.web.app:create_app",
        factory=True,
        host=host or settings.web_host,
        port=port or settings.web_port,
        log_level="info",
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None)
@click.option(
    "--rate-limit/--no-rate-limit",
    default=True,
    show_default=True,
    help="Answer 429 past one message per second per channel.",
)
def sandbox(host: str, port: int | None, rate_limit: bool) -> None:
    """Run the local Slack stand-in (webhooks, chat.postMessage, chat.update, a web page)."""
    from alerting.slack.sandbox import run_sandbox

    run_sandbox(host=host, port=port or get_settings().sandbox_port, rate_limit=rate_limit)


@main.command("secret-key")
def secret_key() -> None:
    """Print a new ALERTING_SECRET_KEY."""
    from alerting.secrets import SecretBox

    click.echo(SecretBox.generate_key())


# --- alerts ----------------------------------------------------------------------------


@main.command()
@click.option("--tenant", "tenant_id", required=True)
@click.option("--type", "alert_type", required=True)
@click.option("--severity", required=True)
@click.option("--message", required=True)
@click.option("--environment", "--env", default=None)
@click.option("--label", "labels", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--annotation", "annotations", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--source", default="cli")
@click.option(
    "--status", type=click.Choice(["firing", "resolved"]), default="firing", show_default=True
)
@click.option("--idempotency-key", default=None)
def send(
    tenant_id: str,
    alert_type: str,
    severity: str,
    message: str,
    environment: str | None,
    labels: tuple[str, ...],
    annotations: tuple[str, ...],
    source: str,
    status: str,
    idempotency_key: str | None,
) -> None:
    """Send an alert event, as send_alert.delay(...) does."""
    from alerting.producer import send_alert

    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "alert_type": alert_type,
        "severity": severity,
        "message": message,
        "labels": _pairs(labels, "--label"),
        "annotations": _pairs(annotations, "--annotation"),
        "source": source,
        "status": status,
    }
    if environment:
        fields["environment"] = environment
    if idempotency_key:
        fields["idempotency_key"] = idempotency_key
    from alerting.tenant_check import refuse_unknown_tenant

    refuse_unknown_tenant(tenant_id, option="--tenant")
    try:
        result = send_alert.delay(**fields)
    except InvalidInput as exc:
        _fail(str(exc), 2)
        return
    click.echo(result.id)


def _lifecycle(action: str, alert_id: str, by: str) -> None:
    from alerting.manager import SyncSlackAlertManager

    manager = SyncSlackAlertManager(ingest_wait=0)
    try:
        state = (manager.acknowledge if action == "ack" else manager.resolve)(alert_id, by=by)
    except AlertingError as exc:
        _fail(str(exc))
        return
    verb = "acknowledged" if action == "ack" else "resolved"
    note = "" if state.changed else f" (already {state.status})"
    click.echo(f"{state.alert_id} {verb}{note}")


def _default_actor() -> str:
    import getpass

    return f"user:{getpass.getuser()}"


@main.command()
@click.argument("alert_id")
@click.option("--by", default=None, help="Who acknowledges (default: user:<login>).")
def ack(alert_id: str, by: str | None) -> None:
    """Acknowledge an alert (by alert id or event id)."""
    _lifecycle("ack", alert_id, by or _default_actor())


@main.command()
@click.argument("alert_id")
@click.option("--by", default=None, help="Who resolves (default: user:<login>).")
def resolve(alert_id: str, by: str | None) -> None:
    """Resolve an alert (by alert id or event id)."""
    _lifecycle("resolve", alert_id, by or _default_actor())


@main.group()
def alerts() -> None:
    """Look at alerts."""


@alerts.command("show")
@click.argument("alert_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def alerts_show(alert_id: str, as_json: bool) -> None:
    """An alert (by alert id or event id) with its notifications and audit trail."""
    from alerting.db.session import session_scope
    from alerting.pipeline.queries import alert_details

    try:
        with session_scope() as session:
            details = alert_details(session, alert_id)
    except AlertingError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(details, indent=2, ensure_ascii=False))
        return
    a = details["alert"]
    console.print(
        Text.assemble(
            (inert_str(a["alert_type"]), "bold"),
            inert_str(f" {a['severity']} · {a['status']} · tenant {a['tenant_id']}"),
        )
    )
    console.print(
        f"id {a['id']} · count {a['count']} · "
        f"first {a['first_seen_at']} · last {a['last_seen_at']}",
        highlight=False,
    )
    console.print(inert(a["message"]), highlight=False)
    if a["labels"]:
        console.print(
            inert("labels: " + ", ".join(f"{k}={v}" for k, v in a["labels"].items())),
            highlight=False,
        )
    table = Table("kind", "channel", "state", "attempts", "error", "sent at", title="Notifications")
    for n in details["notifications"]:
        table.add_row(
            inert(n["kind"]),
            inert(n["channel"]),
            inert(n["state"]),
            str(n["attempts"]),
            inert(n["last_error"] or ""),
            inert(n["sent_at"] or ""),
        )
    console.print(table)
    trail = Table("at", "actor", "action", "detail", title="Audit trail")
    for e in details["audit"]:
        trail.add_row(
            inert(e["at"]),
            inert(e["actor"]),
            inert(e["action"]),
            inert(json.dumps(e["detail"], ensure_ascii=False)),
        )
    console.print(trail)


@alerts.command("list")
@click.option("--tenant", "tenant_id", default=None)
@click.option("--status", type=click.Choice(["firing", "acknowledged", "resolved"]), default=None)
@click.option("--limit", default=50, show_default=True)
def alerts_list(tenant_id: str | None, status: str | None, limit: int) -> None:
    """Recent alerts."""
    from alerting.db.session import session_scope
    from alerting.pipeline.queries import list_alerts

    with session_scope() as session:
        rows = list_alerts(session, tenant_id=tenant_id, status=status, limit=limit)
    table = Table("id", "tenant", "type", "severity", "status", "count", "last seen")
    for a in rows:
        table.add_row(
            *(
                inert(value)
                for value in (
                    a["id"],
                    a["tenant_id"],
                    a["alert_type"],
                    a["severity"],
                    a["status"],
                    a["count"],
                    a["last_seen_at"],
                )
            )
        )
    console.print(table)


# --- tenants ---------------------------------------------------------------------------


@main.group()
def tenants() -> None:
    """Tenant configuration (config/tenants/*.yaml)."""


def _load_dir(directory: Path | None) -> list[Any]:
    from alerting.domain.tenants import load_tenants_dir

    settings = get_settings()
    found, problems = load_tenants_dir(
        directory or settings.tenants_dir, settings.allowed_webhook_hosts
    )
    for problem in problems:
        for field, reason in problem.problems:
            click.echo(inert_str(f"{problem.where}: {field}: {reason}"), err=True)
    if problems:
        sys.exit(1)
    return found


@tenants.command("validate")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def tenants_validate(directory: Path | None) -> None:
    """Check every tenant file; every problem is listed with file, key path and reason."""
    found = _load_dir(directory)
    click.echo(f"{len(found)} tenants valid")


@tenants.command("sync")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def tenants_sync(directory: Path | None) -> None:
    """Write the tenant files to Postgres (nothing is written if any file is invalid)."""
    from alerting.tenants_sync import sync_tenants

    found = _load_dir(directory)
    try:
        created, updated = sync_tenants(found)
    except AlertingError as exc:
        _fail(str(exc))
        return
    click.echo(f"{created} created, {updated} updated")


@tenants.command("list")
def tenants_list() -> None:
    """Tenants in Postgres."""
    from alerting.db.repositories import list_tenant_ids
    from alerting.db.session import session_scope

    with session_scope() as session:
        for tenant_id in list_tenant_ids(session):
            click.echo(tenant_id)


@tenants.command("create-key")
@click.argument("tenant_id")
@click.option("--label", default=None, help="What the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What the key may do (repeatable); default alerts:write + alerts:respond.",
)
def tenants_create_key(tenant_id: str, label: str | None, scopes: tuple[str, ...]) -> None:
    """Make an API key for POST /api/v1/alerts; it is shown once and stored hashed."""
    from alerting.db.repositories import create_api_key
    from alerting.db.session import session_scope

    try:
        with session_scope() as session:
            key = create_api_key(session, tenant_id, label, scopes=list(scopes) or None)
    except AlertingError as exc:
        _fail(str(exc))
        return
    click.echo(key)


@tenants.command("revoke-key")
@click.argument("tenant_id")
@click.argument("prefix")
def tenants_revoke_key(tenant_id: str, prefix: str) -> None:
    """Revoke a tenant's API key by its first 10 characters (shown in the audit log)."""
    from alerting.db.repositories import revoke_api_key
    from alerting.db.session import session_scope

    with session_scope() as session:
        count = revoke_api_key(session, tenant_id, prefix)
    if not count:
        _fail(f"no active key of {tenant_id} starts with {prefix[:10]!r}")
    click.echo(f"{count} key revoked")


# --- routes ----------------------------------------------------------------------------


@main.group()
def routes() -> None:
    """The tenants' routing trees (``route:`` in config/tenants/*.yaml)."""


@routes.command("test")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--type", "alert_type", default="test_alert", show_default=True)
@click.option("--severity", default="critical", show_default=True)
@click.option("--environment", "--env", default=None)
@click.option("--labels", "--label", "labels", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def routes_test(
    tenant_id: str,
    alert_type: str,
    severity: str,
    environment: str | None,
    labels: tuple[str, ...],
    as_json: bool,
) -> None:
    """Which route(s) an alert would take, read from the tenant file; nothing is sent."""
    from alerting.routes_tool import describe, route_sample, tenant_from_dir

    settings = get_settings()
    try:
        pairs = _pairs(labels, "--labels")
    except click.BadParameter as exc:
        _fail(exc.format_message(), 2)
        return
    try:
        tenant = tenant_from_dir(settings.tenants_dir, tenant_id, settings.allowed_webhook_hosts)
        result = route_sample(
            tenant,
            alert_type=alert_type,
            severity=severity,
            environment=environment,
            labels=pairs,
        )
    except InvalidInput as exc:
        if exc.where == "command line":
            _fail(str(exc), 2)
        for field, reason in exc.problems:
            click.echo(inert_str(f"{exc.where}: {field}: {reason}"), err=True)
        sys.exit(1)
    except AlertingError as exc:
        # An unknown tenant: the operator's input.
        _fail(f"{exc} (tenants directory {settings.tenants_dir})", 2)
        return
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for line in describe(result):
        click.echo(inert_str(line))


# --- on-call ---------------------------------------------------------------------------


@main.group()
def oncall() -> None:
    """On-call schedules of the tenant files (oncall_schedules)."""


def _parse_at(value: str | None) -> datetime | None:
    """An ISO-8601 instant; without an offset it is read in each schedule's time zone."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--at: {value!r} is not an ISO-8601 time (e.g. 2026-03-02T10:00+01:00)", 2)
        raise  # unreachable: _fail exits


def _shown(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z (%a)") if moment else "-"


@oncall.command("who")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--schedule", "schedule_name", default=None, help="One schedule (default: all).")
@click.option("--at", "at", default=None, help="ISO-8601 time (default: now).")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def oncall_who(
    tenant_id: str, schedule_name: str | None, at: str | None, directory: Path | None
) -> None:
    """Who is on call in each schedule, since and until when (the schedule's time), and who
    is next. Reads the tenant files, like `alerting tenants validate`."""
    from alerting.domain.oncall import who_is_on_call
    from alerting.domain.tenants import load_tenants_dir

    settings = get_settings()
    moment = _parse_at(at)
    found, problems = load_tenants_dir(
        directory or settings.tenants_dir, settings.allowed_webhook_hosts
    )
    for problem in problems:
        if Path(problem.where).stem == tenant_id or problem.where.endswith("(directory)"):
            for field, reason in problem.problems:
                click.echo(inert_str(f"{problem.where}: {field}: {reason}"), err=True)
            sys.exit(1)
    tenant = next((t for t in found if t.tenant_id == tenant_id), None)
    if tenant is None:
        _fail(
            f"--tenant: no tenant file for {tenant_id!r} in {directory or settings.tenants_dir}",
            2,
        )
        return
    schedules = tenant.oncall_schedules
    if schedule_name is not None:
        if schedule_name not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            _fail(
                f"--schedule: {tenant_id} has no schedule {schedule_name!r} (schedules: {known})",
                2,
            )
            return
        schedules = {schedule_name: schedules[schedule_name]}
    if not schedules:
        click.echo(f"{tenant_id} has no on-call schedules")
        return
    for name, schedule in schedules.items():
        if moment is None:
            instant = datetime.now(UTC)
        elif moment.tzinfo is None:
            instant = moment.replace(tzinfo=schedule.zone)
        else:
            instant = moment
        shift = who_is_on_call(schedule, instant)
        day = schedule.handoff_day or schedule.start.strftime("%A").lower()
        every = "daily" if schedule.handoff == "daily" else f"weekly on {day}"
        click.echo(inert_str(f"{name} ({schedule.timezone}, {every} at {schedule.handoff_time})"))
        who = shift.user or "nobody (the rotation has not started)"
        click.echo(inert_str(f"  on call  {who}{' (override)' if shift.override else ''}"))
        click.echo(f"  since    {_shown(shift.since)}")
        click.echo(f"  until    {_shown(shift.until)}")
        click.echo(inert_str(f"  next     {shift.next_user or '-'}"))


# --- templates -------------------------------------------------------------------------


@main.group()
def templates() -> None:
    """Message templates and translations."""


@templates.command("render")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--type", "alert_type", required=True)
@click.option("--severity", default="critical", show_default=True)
@click.option("--locale", "locales", multiple=True, help="en, fr or de; twice for bilingual.")
@click.option("--environment", "--env", default="production", show_default=True)
@click.option("--message", default="Sample alert message", show_default=True)
@click.option("--label", "labels", multiple=True, help="KEY=VALUE, repeatable.")
@click.option(
    "--status", type=click.Choice(["firing", "acknowledged", "resolved"]), default="firing"
)
@click.option("--interactive/--no-interactive", default=False, help="With Web API buttons.")
@click.option("--post", "post_channel", default=None, help="Also post it to this channel.")
def templates_render(
    tenant_id: str,
    alert_type: str,
    severity: str,
    locales: tuple[str, ...],
    environment: str,
    message: str,
    labels: tuple[str, ...],
    status: str,
    interactive: bool,
    post_channel: str | None,
) -> None:
    """Print a message's Block Kit JSON and a plain-text preview, without a database."""
    from alerting.template_tools import render_sample

    try:
        payload, preview = render_sample(
            tenant_id=tenant_id,
            alert_type=alert_type,
            severity=severity,
            locales=locales,
            environment=environment,
            message=message,
            labels=_pairs(labels, "--label"),
            status=status,
            interactive=interactive,
        )
    except (AlertingError, ValueError) as exc:
        _fail(str(exc), 2)
        return
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    click.echo("\n--- preview ---\n" + inert_str(preview))
    if post_channel:
        from alerting.template_tools import post_sample

        try:
            click.echo(post_sample(payload, post_channel))
        except AlertingError as exc:
            _fail(str(exc))


@templates.command("check")
def templates_check() -> None:
    """Validate every built-in and tenant template in every locale; exit 1 listing problems."""
    from alerting.slack.templates import SlackTemplateEngine

    problems = SlackTemplateEngine(get_settings().tenants_dir).check()
    for problem in problems:
        click.echo(inert_str(problem), err=True)
    if problems:
        sys.exit(1)
    click.echo("all templates valid in en, fr, de")


# --- silences --------------------------------------------------------------------------

#: Spec fields as the CLI spells them, so that errors name the option to fix.
_SILENCE_OPTIONS = {
    "matchers": "--matcher",
    "starts_at": "--start",
    "ends_at": "--end",
    "duration": "--duration",
    "created_by": "--author",
    "comment": "--comment",
}


def _silence_problem(exc: InvalidInput) -> str:
    lines = []
    for field, reason in exc.problems:
        head, _, rest = field.partition(".")
        option = _SILENCE_OPTIONS.get(head, field)
        lines.append(f"{option}{'[' + rest + ']' if rest else ''}: {reason}")
    return "; ".join(lines)


@main.group()
def silence() -> None:
    """Silences: mute matching alerts for a while."""


@silence.command("add")
@click.option("--tenant", "tenant_id", required=True)
@click.option(
    "--matcher", "matchers", multiple=True, help="name=value, !=, =~ regex, !~; repeatable."
)
@click.option("--duration", default=None, help="How long, e.g. 2h, 30m, 1h30m.")
@click.option("--end", default=None, help="ISO time with offset, instead of --duration.")
@click.option("--start", default=None, help="ISO time with offset (default: now).")
@click.option("--author", required=True)
@click.option("--comment", required=True)
def silence_add(
    tenant_id: str,
    matchers: tuple[str, ...],
    duration: str | None,
    end: str | None,
    start: str | None,
    author: str,
    comment: str,
) -> None:
    """Create a silence; prints its id."""
    from alerting.db.session import session_scope
    from alerting.domain.errors import UnknownTenant
    from alerting.pipeline.silences import create_silence, parse_spec

    where = "alerting silence add"
    data: dict[str, Any] = {"matchers": list(matchers), "created_by": author, "comment": comment}
    for key, value in (("duration", duration), ("ends_at", end), ("starts_at", start)):
        if value is not None:
            data[key] = value
    try:
        spec = parse_spec(data, where=where)
        with session_scope() as session:
            created = create_silence(session, tenant_id, spec, where=where)
            silence_id, ends_at = str(created.id), created.ends_at
    except InvalidInput as exc:
        _fail(_silence_problem(exc), 2)
        return
    except UnknownTenant as exc:
        from alerting.tenant_check import refuse_unknown_tenant

        refuse_unknown_tenant(exc.tenant_id, option="--tenant")
        _fail(str(exc), 2)
        return
    click.echo(silence_id)
    err_console.print(f"silenced until {ends_at.isoformat()}", highlight=False)


@silence.command("list")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--all", "include_all", is_flag=True, help="Expired silences too.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", default=None, help="Continue a listing (printed after a full page).")
def silence_list(tenant_id: str, include_all: bool, limit: int, cursor: str | None) -> None:
    """The tenant's active and pending silences, by start time, a page at a time."""
    from alerting.db.session import session_scope
    from alerting.domain.errors import UnknownTenant
    from alerting.pipeline.silences import list_silences, page_cursor, silence_dict

    try:
        with session_scope() as session:
            found = list_silences(
                session, tenant_id, include_expired=include_all, limit=limit + 1, cursor=cursor
            )
            rows = [silence_dict(s) for s in found[:limit]]
            next_cursor = page_cursor(found[limit - 1]) if len(found) > limit else None
    except UnknownTenant as exc:
        from alerting.tenant_check import refuse_unknown_tenant

        refuse_unknown_tenant(exc.tenant_id, option="--tenant")
        _fail(str(exc), 2)
        return
    except InvalidInput as exc:
        _fail(str(exc), 2)
        return
    table = Table("id", "matchers", "start", "end", "author", "comment", "state")
    for s in rows:
        table.add_row(
            *(
                inert(value)
                for value in (
                    s["id"],
                    ", ".join(s["matchers"]),
                    s["starts_at"],
                    s["expired_at"] or s["ends_at"],
                    s["created_by"],
                    s["comment"],
                    s["state"],
                )
            )
        )
    console.print(table)
    if next_cursor:
        err_console.print(f"more: --cursor {next_cursor}", highlight=False, markup=False)


@silence.command("expire")
@click.argument("silence_id")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--by", default=None, help="Who expires it (default: user:<login>).")
def silence_expire(silence_id: str, tenant_id: str, by: str | None) -> None:
    """End a silence now."""
    from alerting.db.session import session_scope
    from alerting.pipeline.silences import SilenceNotFound, expire_silence

    try:
        with session_scope() as session:
            _, changed = expire_silence(session, tenant_id, silence_id, by=by or _default_actor())
    except SilenceNotFound as exc:
        _fail(str(exc), 1)
        return
    click.echo(f"{silence_id} {'expired' if changed else 'was already expired'}")


# --- database --------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations."""
    from alerting.db.migrate import upgrade

    upgrade(get_settings().require_postgres_url(), revision)
    click.echo("database is at " + revision)


@db.command("current")
def db_current() -> None:
    """Print the applied revision."""
    from alerting.db.migrate import current

    click.echo(current(get_settings().require_postgres_url()) or "(empty)")


main.add_command(anomalies)

main.add_command(dead_letters)
main.add_command(incidents_group)

main.add_command(users)

if __name__ == "__main__":
    main()
