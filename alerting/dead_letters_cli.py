"""``alerting dead-letters list|show|purge``: broker messages the workers refused.

Everything in a dead letter was written by whoever published it. It is printed literally:
plain text, no markup, and control characters (terminal escape sequences among them) shown
escaped rather than sent to the terminal.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from alerting.settings import get_settings
from alerting.terminal import inert_str

#: Characters of a ``list`` row's detail column.
DETAIL_WIDTH = 60


def inert(text: str) -> str:
    """One line of stored text, its control characters shown escaped (``\\x1b``)."""
    return inert_str(text, one_line=True)


def _body_text(body: bytes) -> str:
    try:
        return inert(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "(not UTF-8, hex) " + body.hex()


def _as_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "queue": row.queue,
        "reason": row.reason,
        "detail": row.detail,
        "task": row.task,
        "message_id": row.message_id,
        "content_type": row.content_type,
        "content_encoding": row.content_encoding,
        "worker": row.worker,
        "headers": row.headers,
        "body": row.body.decode("utf-8", errors="backslashreplace"),
    }


@click.group("dead-letters")
def dead_letters() -> None:
    """Broker messages no task could run (undecodable, wrongly shaped, missing headers)."""


@dead_letters.command("list")
@click.option("--queue", default=None, help="Only those refused on this queue.")
@click.option("--reason", default=None, help="Only those refused for this reason.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(queue: str | None, reason: str | None, limit: int, as_json: bool) -> None:
    """The most recent dead letters, newest first."""
    from alerting.db.dead_letters import list_dead_letters
    from alerting.db.session import session_scope

    get_settings().require_postgres_url()
    with session_scope() as session:
        rows = list_dead_letters(session, queue=queue, reason=reason, limit=limit)
        if as_json:
            click.echo(json.dumps([_as_dict(r) for r in rows], indent=2))
            return
        if not rows:
            click.echo("no dead letters")
            return
        click.echo(f"{'id':>6}  {'received':<19}  {'queue':<24}  {'reason':<18}  message id")
        for row in rows:
            received = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
            detail = inert(row.detail)
            if len(detail) > DETAIL_WIDTH:
                detail = detail[: DETAIL_WIDTH - 1] + "…"
            click.echo(
                f"{row.id:>6}  {received:<19}  {inert(row.queue):<24}  {row.reason:<18}  "
                f"{inert(row.message_id or '-')}\n        {detail}"
            )


@dead_letters.command("show")
@click.argument("letter_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(letter_id: int, as_json: bool) -> None:
    """One dead letter: why it was refused, its headers and its body."""
    from alerting.db.dead_letters import get_dead_letter
    from alerting.db.session import session_scope

    get_settings().require_postgres_url()
    with session_scope() as session:
        row = get_dead_letter(session, letter_id)
        if row is None:
            raise click.ClickException(f"no dead letter {letter_id}")
        if as_json:
            click.echo(json.dumps(_as_dict(row), indent=2))
            return
        fields = [
            ("id", str(row.id)),
            ("received", row.received_at.isoformat()),
            ("worker", row.worker),
            ("queue", row.queue),
            ("reason", row.reason),
            ("detail", row.detail),
            ("task", row.task or "-"),
            ("message id", row.message_id or "-"),
            ("content type", row.content_type or "-"),
            ("encoding", row.content_encoding or "-"),
            ("headers", row.headers),
        ]
        for name, value in fields:
            click.echo(f"{name + ':':<14}{inert(value)}")
        click.echo(f"{'body:':<14}{_body_text(row.body)}")


@dead_letters.command("purge")
@click.argument("letter_ids", nargs=-1, type=int)
@click.option(
    "--before",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only those received before this UTC time.",
)
@click.option("--queue", default=None, help="Only those refused on this queue.")
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_command(
    letter_ids: tuple[int, ...],
    before: datetime | None,
    queue: str | None,
    everything: bool,
    yes: bool,
) -> None:
    """Delete dead letters: the ids given, or those selected by --before/--queue, or --all."""
    from datetime import UTC

    from alerting.db.dead_letters import purge_dead_letters
    from alerting.db.session import session_scope

    if not (letter_ids or before or queue or everything):
        raise click.UsageError("give dead letter ids, --before, --queue or --all")
    if everything and (letter_ids or before or queue):
        raise click.UsageError("--all cannot be combined with ids, --before or --queue")
    if not yes:
        click.confirm("Delete the selected dead letters?", abort=True)
    get_settings().require_postgres_url()
    with session_scope() as session:
        deleted = purge_dead_letters(
            session,
            ids=list(letter_ids) or None,
            before=before.replace(tzinfo=UTC) if before else None,
            queue=queue,
        )
    click.echo(f"{deleted} dead letters deleted")
