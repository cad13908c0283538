"""``alerting users create|list|set-role|disable``: people who sign in to ``/ui/``."""

from __future__ import annotations

import json
import sys

import click

from alerting.authz import ROLES
from alerting.settings import get_settings
from alerting.terminal import inert_str


def _text(value: str) -> str:
    return inert_str(value, one_line=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group("users")
def users() -> None:
    """People who sign in to the web UI, and their role in each tenant."""


@users.command("create")
@click.option("--tenant", "tenant_id", required=True, help="The tenant the role is in.")
@click.option("--email", required=True, help="The user's email, their sign-in name.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="Their role there.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def create_command(tenant_id: str, email: str, role: str, password_stdin: bool) -> None:
    """Add a user with a role in a tenant (an existing user gets the role in one more)."""
    from alerting.db.session import session_scope
    from alerting.users import _user, create_user, normal_email

    get_settings().require_postgres_url()
    normal_email(email)
    with session_scope() as session:
        new = _user(session, email) is None
    password = _password(password_stdin) if new else None
    with session_scope() as session:
        create_user(session, tenant_id=tenant_id, email=email, role=role, password=password)
    what = "created" if new else "given a role"
    click.echo(f"{_text(email.strip().lower())} {what}: {role} in {_text(tenant_id)}")


@users.command("list")
@click.option("--tenant", "tenant_id", default=None, help="Only this tenant's users.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(tenant_id: str | None, as_json: bool) -> None:
    """Users and their role in each tenant."""
    from alerting.db.session import session_scope
    from alerting.users import list_users

    get_settings().require_postgres_url()
    with session_scope() as session:
        rows = list_users(session, tenant_id)
    if as_json:
        out = [
            {
                "email": r.email,
                "tenant_id": r.tenant_id,
                "role": r.role,
                "disabled": r.disabled,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return
    if not rows:
        click.echo("no users")
        return
    click.echo(f"{'email':<40}  {'tenant':<24}  {'role':<10}  state")
    for r in rows:
        email = inert_str(r.email, one_line=True)
        state = "disabled" if r.disabled else "active"
        click.echo(f"{email:<40}  {inert_str(r.tenant_id):<24}  {r.role:<10}  {state}")


@users.command("set-role")
@click.option("--tenant", "tenant_id", required=True, help="The tenant the role is in.")
@click.option("--email", required=True, help="The user's email.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="Their new role.")
def set_role_command(tenant_id: str, email: str, role: str) -> None:
    """Change a user's role in a tenant."""
    from alerting.db.session import session_scope
    from alerting.users import set_role

    get_settings().require_postgres_url()
    with session_scope() as session:
        set_role(session, tenant_id=tenant_id, email=email, role=role)
    click.echo(f"{_text(email.strip().lower())} is now {role} in {_text(tenant_id)}")


@users.command("disable")
@click.option("--email", required=True, help="The user's email.")
def disable_command(email: str) -> None:
    """Stop a user from signing in; their open sessions end too."""
    from alerting.db.session import session_scope
    from alerting.users import disable_user

    get_settings().require_postgres_url()
    with session_scope() as session:
        disable_user(session, email=email)
    click.echo(f"{inert_str(email.strip().lower(), one_line=True)} disabled")
