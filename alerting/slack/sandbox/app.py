"""Entry points: build a sandbox app, serve it, or run it from the command line."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from typing import TypedDict, Unpack

import uvicorn
from fastapi import FastAPI

from alerting.integrations import standins
from alerting.slack.sandbox import interactive, page
from alerting.slack.sandbox.core import DEFAULT_HOST, DEFAULT_PORT, SandboxState, router

logger = logging.getLogger(__name__)
#: The app the sandbox sends clicks and commands to (its base URL).
APP_URL_ENV = "ALERTING_SANDBOX_APP_URL"


class SandboxOptions(TypedDict, total=False):
    rate_limit: bool
    burst: int
    per_second: float
    valid_tokens: frozenset[str] | None
    app_url: str | None
    signing_secret: str | None


def create_app(
    *,
    rate_limit: bool = True,
    burst: int = 1,
    per_second: float = 1.0,
    valid_tokens: frozenset[str] | None = None,
    app_url: str | None = None,
    signing_secret: str | None = None,
) -> FastAPI:
    """A fresh sandbox; its state is ``app.state.sandbox`` (a :class:`SandboxState`).

    ``burst`` and ``per_second`` size the per-channel token bucket (Slack allows about one
    message per second per channel). With ``valid_tokens`` only those bearer tokens pass.
    """
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")
    if not per_second > 0:
        raise ValueError(f"per_second must be positive, got {per_second}")
    app = FastAPI(title="Slack sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    # Read here too, so `alerting sandbox` and `alerting up` need no extra flags.
    app_url = app_url or os.environ.get(APP_URL_ENV) or None
    signing_secret = signing_secret or os.environ.get("SLACK_SIGNING_SECRET") or None
    app.state.sandbox = SandboxState(
        rate_limit=rate_limit,
        burst=burst,
        per_second=per_second,
        valid_tokens=valid_tokens,
        app_url=app_url,
        signing_secret=signing_secret,
    )
    # Before the core's catch-all ``/api/{method}``: views.open, usergroups.users.list.
    app.include_router(interactive.router)
    app.include_router(page.router)
    app.include_router(router)
    # PagerDuty and ServiceNow stand-ins, for the escalation levels that page them.
    standins.install(app)
    return app


def run_sandbox(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Unpack[SandboxOptions]
) -> None:
    """Serve a sandbox until interrupted; ``options`` go to :func:`create_app`."""
    logger.info("Slack sandbox on http://%s:%s/", host, port)
    uvicorn.run(create_app(**options), host=host, port=port, log_level="warning")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Slack sandbox.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--no-rate-limit", action="store_true", help="accept every message")
    parser.add_argument("--burst", type=int, default=1, help="messages per channel at once")
    parser.add_argument(
        "--per-second", type=float, default=1.0, help="sustained messages/second per channel"
    )
    parser.add_argument(
        "--token", action="append", help="accepted bearer token (repeatable; default any)"
    )
    parser.add_argument(
        "--app-url",
        default=os.environ.get(APP_URL_ENV),
        help=f"the app's base URL for clicks and commands (default ${APP_URL_ENV})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_sandbox(
        args.host,
        args.port,
        rate_limit=not args.no_rate_limit,
        burst=args.burst,
        per_second=args.per_second,
        valid_tokens=frozenset(args.token) if args.token else None,
        app_url=args.app_url,
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
    )
