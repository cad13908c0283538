"""The worker's two Slack calls for a request: who is in a user group, and the answer.

The answer goes to the request's ``response_url`` as an ephemeral message (the caller alone
sees it). It is sent after the change committed, once: a failure is logged, never retried,
since running the request again would answer "already done" to the person who did it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from alerting.settings import Settings

log = logging.getLogger(__name__)


def answer(response_url: str | None, text: str, *, timeout: float) -> bool:
    """Post ``text`` to the caller alone; whether Slack took it."""
    if not response_url:
        return False
    try:
        resp = requests.post(
            response_url,
            json={"response_type": "ephemeral", "replace_original": False, "text": text},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        log.warning("answer to a Slack request not delivered: %s", exc)
        return False
    if resp.status_code >= 300:
        log.warning("answer to a Slack request refused: HTTP %s", resp.status_code)
        return False
    return True


class GroupDirectory:
    """Members of Slack user groups, asked once per group per request."""

    def __init__(self, settings: Settings, token: Callable[[], str | None]) -> None:
        self._settings = settings
        self._token = token
        self.members = lru_cache(maxsize=32)(self._members)

    def _members(self, group_id: str) -> set[str]:
        token = self._token()
        if token is None:
            return set()
        client = WebClient(
            token=token,
            base_url=self._settings.slack_api_url,
            timeout=int(self._settings.slack_timeout),
        )
        try:
            resp = client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            # Refusing is the safe side: the person is told who may act.
            log.warning("user group %s: Slack said %s", group_id, exc.response.get("error"))
            return set()
        return {str(u) for u in resp.get("users") or []}
