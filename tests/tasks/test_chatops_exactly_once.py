"""Exactly once under random interleavings: double clicks, two people at once, slash commands
and Slack's retries (``X-Slack-Retry-Num``), driven through the real web app and worker.

Whatever the order, the alert changes once per kind of change, the message ends up telling
the final state, every request gets one answer, and the answers tell the truth: as many
"You acknowledged" as acknowledgements recorded, and so on.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import wait_details
from tests.tasks.test_chatops import (
    CHANNEL,
    action_body,
    command_body,
    fire,
    response_url,
    signed,
)

USERS = [("U0ALICE", "alice"), ("U0BOB", "bob")]
BUTTONS = {"ack": "alert_acknowledge", "resolve": "alert_resolve", "silence": "alert_silence_1h"}


@dataclass(frozen=True)
class Op:
    #: "click", "command" or "retry" (of an earlier op, re-signed, with X-Slack-Retry-Num).
    how: str
    change: str
    user: int
    of: int = 0


ops = st.one_of(
    st.builds(
        Op, st.just("click"), st.sampled_from(["ack", "resolve", "silence"]), st.integers(0, 1)
    ),
    st.builds(Op, st.just("command"), st.sampled_from(["ack", "resolve"]), st.integers(0, 1)),
    st.builds(Op, st.just("retry"), st.just(""), st.just(0), st.integers(0, 7)),
)


def _tokens(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _answers(stack: Stack) -> list[dict[str, Any]]:
    resp = requests.get(
        f"{stack.sandbox.base_url}/sandbox/ephemeral", params={"channel": CHANNEL}, timeout=5
    )
    return list(resp.json()["messages"])


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(ops, min_size=2, max_size=7), batch=st.integers(1, 4))
def test_any_interleaving_changes_the_alert_once_and_answers_truthfully(
    web: TestClient, clean: Stack, plan: list[Op], batch: int
) -> None:
    example = f"ex{time.monotonic_ns()}"
    alert_id = fire(clean, labels={"example": example}, message=f"disk full {example}")
    sent: list[tuple[bytes, str, str]] = []  # (body, endpoint, response_url token)
    requests_to_send: list[tuple[bytes, str, dict[str, str], str | None]] = []
    for op in plan:
        if op.how == "retry":
            if not sent:
                continue
            body, endpoint, _ = sent[op.of % len(sent)]
            retries = 1 + sum(1 for item in requests_to_send if item[0] == body and item[2])
            requests_to_send.append((body, endpoint, {"retry": str(retries)}, None))
            continue
        user_id, name = USERS[op.user]
        url = response_url(clean)
        if op.how == "click":
            body = action_body(alert_id, BUTTONS[op.change], url=url, user=user_id, name=name)
            endpoint = "/slack/interactions"
        else:
            body = command_body(f"{op.change} {alert_id[:8]}", url=url, user=user_id, name=name)
            endpoint = "/slack/commands"
        sent.append((body, endpoint, _tokens(url)))
        requests_to_send.append((body, endpoint, {}, _tokens(url)))

    def post(item: tuple[bytes, str, dict[str, str], str | None]) -> int:
        body, endpoint, extra, _ = item
        # Slack retries later, so with another timestamp: a new signature, the same body.
        retry = int(extra.get("retry", 0))
        headers = signed(body, retry=retry, age=-retry) if retry else signed(body)
        return web.post(endpoint, content=body, headers=headers).status_code

    statuses: list[int] = []
    with ThreadPoolExecutor(max_workers=batch) as pool:
        for start in range(0, len(requests_to_send), batch):
            statuses += pool.map(post, requests_to_send[start : start + batch])
    # Every request is answered 200 (a retry too: Slack must not see a failure).
    assert statuses == [200] * len(requests_to_send)

    tokens = {token for _, _, token in sent}
    by_token: dict[str, list[str]] = {}

    def all_answered() -> bool:
        by_token.clear()
        for answer in _answers(clean):
            if answer["response_url_token"] in tokens:
                by_token.setdefault(answer["response_url_token"], []).append(answer["text"])
        return set(by_token) == tokens

    wait_for(all_answered, what="one answer per request")
    time.sleep(0.5)  # a duplicate answer, if any, would land now
    assert all_answered()
    assert all(len(texts) == 1 for texts in by_token.values()), by_token

    found = wait_details(alert_id, lambda d: True)
    audit = Counter(e["action"] for e in found["audit"])
    texts = [t for texts in by_token.values() for t in texts]
    short = alert_id[:8]
    assert audit["alert.acknowledged"] <= 1 and audit["alert.resolved"] <= 1
    assert audit["silence.created"] <= 1
    assert sum(f"You acknowledged alert {short}" in t for t in texts) == audit["alert.acknowledged"]
    assert sum(f"You resolved alert {short}" in t for t in texts) == audit["alert.resolved"]
    assert sum(f"You silenced alert {short}" in t for t in texts) == audit["silence.created"]

    wanted = {op.change for op in plan if op.how != "retry"}
    status = found["alert"]["status"]
    if not wanted:
        assert status == "firing" and not texts
        return
    if "resolve" in wanted:
        assert status == "resolved"
        expected_line = ":white_check_mark: Resolved"
    elif "ack" in wanted:
        assert status == "acknowledged"
        expected_line = "Acknowledged by"
    else:
        assert status == "firing"
        expected_line = "Silenced for 1 hour by"
    wait_for(
        lambda: any(
            expected_line in str(m) and example in m["text"]
            for m in clean.sandbox.messages(CHANNEL)
            if m["thread_ts"] is None
        ),
        what=f"the message to say {expected_line!r}",
    )
