"""Local Slack stand-in: incoming webhooks, the Web API methods this service calls, and a page
where a developer sees and uses Slack as the service's users would.

It answers with Slack's status codes, bodies and ``Retry-After`` headers, enforces Slack's
Block Kit and per-channel posting limits, and records every message and request in memory so
tests and the bench can assert on what Slack would have shown and when. One process, nothing
persisted; all state hangs off ``app.state.sandbox`` so a test run can hold several sandboxes.

- ``core``: the state, Block Kit validation, the webhook and Web API emulation, the control API
  under ``/sandbox/`` (inspect, reset, reconfigure, inject faults);
- ``interactive``: clicks, slash commands, modals and shortcuts sent, signed, to the app;
  ``views.open`` and ``usergroups.users.list``;
- ``mrkdwn`` and ``page``: the page at ``/``;
- ``app``: :func:`create_app`, :func:`run_sandbox`, the command line.

Run it with ``python -m alerting.slack.sandbox --port 8025`` or :func:`run_sandbox`.
"""

from __future__ import annotations

from alerting.slack.sandbox.app import create_app, main, run_sandbox
from alerting.slack.sandbox.core import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    SandboxState,
    channel_id_for,
    validate_blocks,
)

__all__ = [
    "MAX_BLOCKS",
    "MAX_HEADER_TEXT",
    "SandboxState",
    "channel_id_for",
    "create_app",
    "main",
    "run_sandbox",
    "validate_blocks",
]
