"""``alerting incidents``: list, show, merge, split, acknowledge and resolve incidents."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from alerting.cli_errors import fail
from alerting.domain.errors import AlertingError, UnknownTenant
from alerting.terminal import inert, inert_str

console = Console()
T = TypeVar("T")


def _default_actor() -> str:
    import getpass

    return f"user:{getpass.getuser()}"


def _in_session(work: Callable[[Any], T]) -> T:
    """Run ``work(session)`` in one transaction; project errors become one line."""
    from alerting.db.session import session_scope

    try:
        with session_scope() as session:
            return work(session)
    except UnknownTenant as exc:
        from alerting.tenant_check import refuse_unknown_tenant

        refuse_unknown_tenant(exc.tenant_id, option="--tenant")
        fail(str(exc), 2)
    except AlertingError as exc:
        fail(str(exc), 2 if isinstance(exc, ValueError) else 1)


def _tenant_config(session: Any, tenant_id: str) -> Any:
    from alerting.db.repositories import load_tenant
    from alerting.secrets import SecretBox
    from alerting.settings import get_settings

    return load_tenant(session, tenant_id, SecretBox.from_settings(get_settings())).config


@click.group()
def incidents() -> None:
    """Incidents: alerts that share a cause (``correlation:`` in the tenant file)."""


@incidents.command("list")
@click.option("--tenant", "tenant_id", required=True)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["firing", "acknowledged", "resolved"]),
    help="Only incidents in this status; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def incidents_list(tenant_id: str, statuses: tuple[str, ...], as_json: bool) -> None:
    """The tenant's incidents, newest first."""
    from alerting.pipeline.correlate import list_incidents

    rows = _in_session(lambda s: list_incidents(s, tenant_id, statuses=statuses))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "status", "severity", "alerts", "root cause", "title", "updated")
    for i in rows:
        table.add_row(
            inert(i["id"]),
            inert(i["status"]),
            inert(i["severity"]),
            str(len(i["alert_ids"])),
            inert(i["root_cause"] or ""),
            inert(i["title"]),
            inert(i["updated_at"]),
        )
    console.print(table)


@incidents.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def incidents_show(incident_id: str, as_json: bool) -> None:
    """An incident, its members and why each joined."""
    from alerting.pipeline.correlate import find_incident, incident_details

    details = _in_session(
        lambda s: incident_details(s, find_incident(s, incident_id, tenant_id=None))
    )
    if as_json:
        click.echo(json.dumps(details, indent=2, ensure_ascii=False))
        return
    console.print(
        Text.assemble(
            (inert_str(details["title"]), "bold"),
            inert_str(f" {details['severity']} · {details['status']}"),
        )
    )
    cause = details["root_cause"] or "unknown"
    console.print(
        inert(
            f"id {details['id']} · root cause {cause} ({details['confidence']:.0%}) · "
            f"created {details['created_at']} · updated {details['updated_at']}"
        ),
        highlight=False,
    )
    table = Table("alert id", "type", "severity", "status", "at", "why it joined", title="Members")
    for m in details["members"]:
        table.add_row(
            inert(m["alert_id"]),
            inert(m["alert_type"]),
            inert(m["severity"]),
            inert(m["status"]),
            inert(m["occurred_at"]),
            inert(m["reason"]),
        )
    console.print(table)
    if details["corrections"]:
        trail = Table("at", "actor", "action", "alerts", title="Corrections")
        for e in details["corrections"]:
            trail.add_row(
                inert(e["at"]),
                inert(e["actor"]),
                inert(e["action"]),
                inert(", ".join(e["detail"].get("alert_ids", []))),
            )
        console.print(trail)


@incidents.command("merge")
@click.argument("a")
@click.argument("b")
@click.option("--by", default=None, help="Who merges (default: user:<login>).")
def incidents_merge(a: str, b: str, by: str | None) -> None:
    """Move incident B's alerts into incident A."""
    from alerting.pipeline.correlate import find_incident, merge_incidents

    def work(session: Any) -> str:
        target = find_incident(session, a, tenant_id=None)
        tenant = _tenant_config(session, target.tenant_id)
        return str(merge_incidents(session, a, b, tenant, actor=by or _default_actor()).id)

    click.echo(f"{_in_session(work)} now holds the alerts of {b}")


@incidents.command("split")
@click.argument("incident_id")
@click.option(
    "--alerts", "alert_ids", required=True, multiple=True, help="Alert ids; repeatable or 'a,b'."
)
@click.option("--by", default=None, help="Who splits (default: user:<login>).")
def incidents_split(incident_id: str, alert_ids: tuple[str, ...], by: str | None) -> None:
    """Move the given alerts of an incident to a new incident; they never rejoin it."""
    from alerting.pipeline.correlate import find_incident, split_incident

    wanted = [part.strip() for item in alert_ids for part in item.split(",") if part.strip()]

    def work(session: Any) -> str:
        source = find_incident(session, incident_id, tenant_id=None)
        tenant = _tenant_config(session, source.tenant_id)
        actor = by or _default_actor()
        return str(split_incident(session, incident_id, wanted, tenant, actor=actor).id)

    click.echo(f"{_in_session(work)} split from {incident_id}")


def _change_members(incident_id: str, status: str, by: str | None) -> None:
    from alerting.manager import SyncSlackAlertManager
    from alerting.pipeline.correlate import find_incident, open_member_ids

    ids = _in_session(
        lambda s: open_member_ids(
            s, find_incident(s, incident_id, tenant_id=None), for_status=status
        )
    )
    manager = SyncSlackAlertManager(ingest_wait=0)
    change = manager.acknowledge if status == "acknowledged" else manager.resolve
    actor = by or _default_actor()
    for alert_id in ids:
        try:
            change(str(alert_id), by=actor)
        except AlertingError as exc:
            fail(str(exc))
    click.echo(f"{incident_id}: {len(ids)} alert{'s' if len(ids) != 1 else ''} {status}")


@incidents.command("ack")
@click.argument("incident_id")
@click.option("--by", default=None, help="Who acknowledges (default: user:<login>).")
def incidents_ack(incident_id: str, by: str | None) -> None:
    """Acknowledge every open alert of the incident."""
    _change_members(incident_id, "acknowledged", by)


@incidents.command("resolve")
@click.argument("incident_id")
@click.option("--by", default=None, help="Who resolves (default: user:<login>).")
def incidents_resolve(incident_id: str, by: str | None) -> None:
    """Resolve every alert of the incident."""
    _change_members(incident_id, "resolved", by)
