"""How the ``alerting`` command fails: one line on stderr (what, why, what to do) and a
documented exit code, never a traceback unless ``--debug`` asks for one.

Exit codes:

====  ==========================================================================================
0     done
1     the operation failed (no such alert or silence, a refused change, an unexpected error), or
      a check found problems (tenants validate, templates check, an invalid tenant file)
2     bad input: a wrong or missing option or argument, an invalid value, an unknown tenant
3     a service is missing: PostgreSQL or Redis is not configured or does not answer
130   interrupted (Ctrl-C)
====  ==========================================================================================
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from alerting.domain.errors import AlertingError, InvalidInput, UnknownTenant

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_SERVICE = 3
EXIT_INTERRUPTED = 130

#: Set by ``alerting --debug`` (or ALERTING_DEBUG=1): failures show their traceback.
_debug = {"on": bool(os.environ.get("ALERTING_DEBUG"))}


def set_debug(on: bool) -> None:
    _debug["on"] = _debug["on"] or on


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: <message>`` on one line of stderr and exit with ``code``."""
    from alerting.terminal import inert_str

    line = " ".join(inert_str(message).split())
    click.echo(f"error: {line}", err=True)
    sys.exit(code)


def _hidden_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # A URL we cannot parse is shown without its userinfo.
        return url.rpartition("@")[2]


def _service_help() -> str:
    return (
        "start `make run` (or `alerting up`) in another terminal of this folder, "
        "or export POSTGRES_URL and REDIS_URL"
    )


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code of a failure we understand, else None."""
    from alerting.settings import MissingSetting

    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx is not None else "alerting"
        return f"{exc.format_message()} (see `{command} --help`)", EXIT_BAD_INPUT
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code
    if isinstance(exc, MissingSetting):
        from alerting.settings import get_settings

        where = get_settings().data_dir
        return f"{exc} (no running `alerting up` recorded in {where})", EXIT_NO_SERVICE
    if isinstance(exc, UnknownTenant):
        return f"{exc}; see `alerting tenants list`", EXIT_BAD_INPUT
    if isinstance(exc, InvalidInput):
        return str(exc), EXIT_BAD_INPUT
    if isinstance(exc, AlertingError):
        return str(exc), EXIT_FAILED
    return _service_failure(exc)


def _service_failure(exc: BaseException) -> tuple[str, int] | None:
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout
    from sqlalchemy.exc import OperationalError

    from alerting.settings import get_settings

    settings = get_settings()
    if isinstance(exc, OperationalError):
        where = _hidden_password(settings.postgres_url or "")
        lines = str(exc.orig or exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        return (
            f"cannot reach PostgreSQL at {where}: {reason}; is it running? {_service_help()}",
            EXIT_NO_SERVICE,
        )
    if isinstance(exc, RedisConnectionError | RedisTimeout | BrokerError):
        where = _hidden_password(settings.redis_url or "")
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"cannot reach Redis at {where}: {reason}; is it running? {_service_help()}",
            EXIT_NO_SERVICE,
        )
    return None


class AlertingGroup(click.Group):
    """The ``alerting`` group: every failure of every command goes through :func:`explain`."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: object,
    ) -> None:
        try:
            code = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except (KeyboardInterrupt, click.Abort):
            click.echo("error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if _debug["on"]:
                raise
            explained = explain(exc)
            if explained is None:
                fail(
                    f"unexpected {type(exc).__name__}: {exc}; rerun as `alerting --debug ...` "
                    "for the traceback and report it",
                    EXIT_FAILED,
                )
            fail(*explained)
        # Outside standalone mode click returns the code of --help, --version and ctx.exit().
        sys.exit(code if isinstance(code, int) else 0)
