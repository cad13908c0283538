"""ChatOps latency: a click or a slash command in Slack → the alert's message updated in place.

``count`` alerts of the Web API tenant are fired and posted. Then, all at once (a thread per
request), half of them are acknowledged by a signed Acknowledge click and half by a signed
``/alerts ack ID`` command, sent to the real web app (uvicorn, Bolt) over HTTP; the real worker
runs the change and the ``chat.update``. The sandbox's messages are polled: the latency of one
interaction is from just before its request to the first poll that shows "Acknowledged by".

The baseline, measured in the same run on as many other alerts, is the same change made with
``SyncSlackAlertManager().acknowledge`` from this process (no Slack request, no web app): the ratio
says what the Slack path adds. The target is a p99 of at most 1 s.

``python -m bench.chatops`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import requests
from rich.table import Table
from slack_sdk.signature import SignatureVerifier

from alerting.testing import free_port, wait_for
from bench.harness import API_TEAM_ID, API_TENANT_ID, BENCH_SIGNING_SECRET, ROOT, Stack
from bench.stats import Summary

Log = Callable[[str], None]
CHANNEL = f"#{API_TENANT_ID}"
#: What the issue asks of the Slack path, in seconds.
TARGET_P99 = 1.0
#: How often the sandbox is polled for the updated messages, in seconds.
POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class ChatopsRun:
    count: int
    chatops: Summary
    baseline: Summary
    refused: int

    @property
    def ratio(self) -> float:
        return self.chatops.p99 / self.baseline.p99 if self.baseline.p99 else float("nan")


def _signed_post(url: str, form: dict[str, str]) -> int:
    body = urlencode(form).encode()
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(BENCH_SIGNING_SECRET).generate_signature(
        timestamp=timestamp, body=body
    )
    resp = requests.post(
        url,
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": str(signature),
        },
        timeout=10,
    )
    return resp.status_code


def _fire(stack: Stack, count: int, tag: str) -> list[str]:
    from alerting import send_alert

    ids = [
        str(
            send_alert.delay(
                tenant_id=API_TENANT_ID,
                alert_type="chatops_bench",
                severity="error",
                message=f"{tag} {i}",
                labels={"n": f"{tag}-{i}"},
            ).id
        )
        for i in range(count)
    ]
    return ids


def _posted(stack: Stack, tag: str, count: int) -> dict[str, str]:
    """alert id → the text of its root message, once every one is posted."""
    found: dict[str, str] = {}

    def all_posted() -> bool:
        found.clear()
        for message in stack.sandbox.messages(CHANNEL):
            if message["thread_ts"] is None and tag in message["text"]:
                for block in message["blocks"]:
                    for element in block.get("elements", []):
                        if element.get("action_id") == "alert_acknowledge":
                            found[element["value"]] = message["ts"]
        return len(found) == count

    wait_for(all_posted, timeout=120, interval=0.5, what=f"{count} {tag} alerts posted")
    return dict(found)


def _watch(stack: Stack, started: dict[str, float], ts_of: dict[str, str]) -> list[float]:
    """Seconds from each start to the first poll showing its message acknowledged."""
    wanted = {ts: alert for alert, ts in ts_of.items()}
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(seen) < len(wanted) and time.monotonic() < deadline:
        now = time.monotonic()
        for message in stack.sandbox.messages(CHANNEL):
            alert = wanted.get(message["ts"])
            if alert and alert not in seen and "Acknowledged by" in message["text"]:
                seen[alert] = now - started[alert]
        time.sleep(POLL_SECONDS)
    return list(seen.values())


def measure_chatops(stack: Stack, web_url: str, count: int, log: Log) -> ChatopsRun:
    from alerting import SyncSlackAlertManager

    stack.sandbox.configure(rate_limit=False)
    _fire(stack, count, "slack")
    _fire(stack, count, "baseline")
    slack = _posted(stack, "slack", count)
    baseline = _posted(stack, "baseline", count)
    log(f"{2 * count} alerts posted; {count} Slack interactions at once")

    manager = SyncSlackAlertManager()
    base_started: dict[str, float] = {}

    def ack_direct(alert_id: str) -> None:
        base_started[alert_id] = time.monotonic()
        manager.acknowledge(alert_id, by="bench", tenant_id=API_TENANT_ID)

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(ack_direct, baseline))
    base_latencies = _watch(stack, base_started, baseline)

    response_url = requests.post(
        f"{stack.sandbox.base_url}/sandbox/response_urls", json={"channel": CHANNEL}, timeout=5
    ).json()["url"]
    started: dict[str, float] = {}

    def interact(position_and_id: tuple[int, str]) -> int:
        position, alert_id = position_and_id
        user = {"id": f"U0BENCH{position:03d}", "username": f"bench{position}"}
        started[alert_id] = time.monotonic()
        if position % 2:
            return _signed_post(
                f"{web_url}/slack/commands",
                {
                    "team_id": API_TEAM_ID,
                    "user_id": user["id"],
                    "user_name": user["username"],
                    "command": "/alerts",
                    "text": f"ack {alert_id[:8]}",
                    "response_url": response_url,
                    "trigger_id": uuid.uuid4().hex,
                },
            )
        payload = {
            "type": "block_actions",
            "team": {"id": API_TEAM_ID},
            "user": {**user, "team_id": API_TEAM_ID},
            "response_url": response_url,
            "trigger_id": uuid.uuid4().hex,
            "actions": [
                {
                    "action_id": "alert_acknowledge",
                    "type": "button",
                    "value": alert_id,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return _signed_post(f"{web_url}/slack/interactions", {"payload": json.dumps(payload)})

    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(interact, enumerate(slack)))
    latencies = _watch(stack, started, slack)
    refused = sum(1 for s in statuses if s != 200) + (count - len(latencies))
    return ChatopsRun(count, Summary.of(latencies), Summary.of(base_latencies), refused)


def chatops_table(run: ChatopsRun) -> Table:
    table = Table(title=f"ChatOps: {run.count} interactions at once → message updated")
    for name in ("path", "n", "p50 ms", "p99 ms", "max ms"):
        table.add_column(name, justify="right" if name != "path" else "left")
    for name, summary in (("Slack click/command", run.chatops), ("baseline (API)", run.baseline)):
        table.add_row(
            name,
            str(summary.count),
            f"{summary.p50 * 1000:.0f}",
            f"{summary.p99 * 1000:.0f}",
            f"{summary.max * 1000:.0f}",
        )
    table.caption = (
        f"p99 ratio Slack/baseline {run.ratio:.2f}; target p99 ≤ {TARGET_P99:g} s: "
        f"{'met' if run.chatops.p99 <= TARGET_P99 else 'MISSED'}; refused or lost {run.refused}"
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    from bench.harness import bench_stack
    from bench.report import make_console

    parser = argparse.ArgumentParser(prog="python -m bench.chatops", description=__doc__)
    parser.add_argument("--interactions", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    if args.interactions < 2 or args.concurrency < 1:
        parser.error("--interactions must be at least 2 and --concurrency positive")
    console = make_console()
    log_dir = ROOT / ".alerting" / "bench-logs" / time.strftime("%Y%m%d-%H%M%S")

    def log(message: str) -> None:
        console.log(message, highlight=False)

    with bench_stack(args.concurrency, log_dir) as stack:
        stack.start_alert_worker()
        port = free_port()
        web = stack.start("web", [sys.executable, "-m", "alerting.cli", "web", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=1).ok
            except requests.RequestException:
                return False

        wait_for(up, timeout=60, what="the web app", alive=web.check_alive)
        result = measure_chatops(stack, url, args.interactions, log)
    console.print(chatops_table(result))
    console.print(f"logs: {Path(log_dir)}", highlight=False, soft_wrap=True)
    return 0 if result.refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
