"""`alerting up` as a new user runs it: all starts, an alert gets through, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.conftest import Stack
from tests.services import ROOT, cli, free_ports, fresh_database, wait_for


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if ppid == parent and int(entry) not in found:
                found.add(int(entry))
                frontier.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_up_runs_the_stack_and_ctrl_c_stops_it(stack: Stack, tmp_path: object) -> None:
    ports = dict(zip(("web", "sandbox", "flower"), free_ports(3), strict=True))
    env = {
        **stack.env,
        "POSTGRES_URL": fresh_database(stack.postgres_url, "alerting_up_test"),
        "REDIS_URL": stack.redis_url.rsplit("/", 1)[0] + "/14",
        "ALERTING_DATA_DIR": str(tmp_path),
        "ALERTING_TENANTS_DIR": str(ROOT / "config" / "tenants"),
        "ALERTING_WEB_PORT": str(ports["web"]),
        "ALERTING_SANDBOX_PORT": str(ports["sandbox"]),
        "ALERTING_FLOWER_PORT": str(ports["flower"]),
    }
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_API_URL", "ALERTING_SECRET_KEY"):
        env.pop(name, None)
    log_path = Path(str(tmp_path)) / "up.log"
    # A file, not a pipe: a pipe nobody reads fills up and blocks every process writing to it.
    up = subprocess.Popen(
        cli("up"),
        env=env,
        cwd=ROOT,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        sandbox = f"http://127.0.0.1:{ports['sandbox']}"

        urls = (
            f"{sandbox}/healthz",
            f"http://127.0.0.1:{ports['web']}/healthz",
            f"http://127.0.0.1:{ports['flower']}/healthcheck",
        )

        def ready() -> list[str]:
            down = []
            for url in urls:
                try:
                    if not requests.get(url, timeout=1).ok:
                        down.append(url)
                except OSError:
                    down.append(url)
            return [] if down else ["up"]

        wait_for(ready, timeout=60, interval=0.5, what="web, sandbox and flower to answer")
        sent = subprocess.run(
            cli(
                "send",
                "--tenant",
                "spotify-tenant-1",
                "--type",
                "high_cpu",
                "--severity",
                "critical",
                "--message",
                "Utilisation CPU > 95%",
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr

        def delivered() -> bool:
            stats = requests.get(f"{sandbox}/sandbox/stats", timeout=2).json()
            return (
                stats["per_channel"].get("#alerts-prod") == 1
                and stats["per_channel"].get("#critical-alerts") == 1
            )

        wait_for(delivered, timeout=30, what="the alert in the sandbox (worker started by up)")
        page = requests.get(f"{sandbox}/", timeout=2).text
        assert "Utilisation CPU &gt; 95%" in page and "#critical-alerts" in page
        # Collected across processes: the worker's counters show on the web app. The sandbox
        # is reached through the Web API (`alerting up` gives it a bot token).
        wanted = (
            'alerting_notifications_total{outcome="sent",tenant="spotify-tenant-1"} 2.0',
            'alerting_slack_request_seconds_count{method="chat.postMessage"} 2.0',
            # The example tenant's criticals climb the seed's sla-critical policy.
            'alerting_escalations_total{step="started",tenant="spotify-tenant-1"} 1.0',
        )
        wait_for(
            lambda: all(
                w in requests.get(f"http://127.0.0.1:{ports['web']}/metrics", timeout=2).text
                for w in wanted
            ),
            timeout=10,
            what="the worker's metrics on the web app's /metrics",
        )
        # Flower switches task events on in the worker; from then on it lists the tasks.
        flower = f"http://127.0.0.1:{ports['flower']}"

        sends = iter(range(1000))

        def flower_lists_deliveries() -> bool:
            # A new alert each time (a repeat would not be delivered again).
            subprocess.run(
                cli(
                    "send",
                    "--tenant",
                    "acme-payments",
                    "--type",
                    "disk_full",
                    "--severity",
                    "warning",
                    "--message",
                    "disk 91%",
                    "--label",
                    f"n={next(sends)}",
                ),
                env=env,
                capture_output=True,
                timeout=60,
                check=True,
            )
            tasks = requests.get(f"{flower}/api/tasks", timeout=2).json()
            return any(t.get("name") == "alerting.deliver" for t in tasks.values())

        wait_for(flower_lists_deliveries, timeout=40, interval=1, what="Flower to show tasks")
        _second_terminal(log_path, env)
        processes = _children(up.pid)
        assert len(processes) >= 5
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    out = log_path.read_text()
    assert up.returncode in (0, 130, -2), out
    assert "alerting is up" in out and "Flower" in out
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in processes):
        time.sleep(0.2)
    assert not [p for p in processes if _alive(p)], "every process stops on Ctrl-C"


def _second_terminal(log_path: Path, up_env: dict[str, str]) -> None:
    """The banner's "send one" line, run as printed in a new terminal of the same folder: no
    service URL or key exported, the CLI finds them recorded by `alerting up`."""
    lines = log_path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Send one from another"))
    command = lines[at + 1].strip()
    assert "REDIS_URL" not in command and "POSTGRES_URL" not in command
    # What a new terminal has: no service URLs, no key, no activated virtualenv. The data
    # folder is the test's own instead of ./.alerting, so it names it.
    terminal = {
        "PATH": "/usr/bin:/bin",
        "HOME": up_env.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "ALERTING_DATA_DIR": up_env["ALERTING_DATA_DIR"],
        "ALERTING_TENANTS_DIR": up_env["ALERTING_TENANTS_DIR"],
    }
    sent = subprocess.run(
        ["sh", "-c", command],
        cwd=ROOT,
        env=terminal,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, f"{command}\n{sent.stderr}"
    event_id = sent.stdout.strip()
    shown = cli("alerts", "show", event_id)

    def stored() -> bool:
        done = subprocess.run(shown, cwd=ROOT, env=terminal, capture_output=True, timeout=60)
        return done.returncode == 0

    wait_for(stored, timeout=20, what="alerts show of the banner's alert in a new terminal")
    unknown = subprocess.run(
        [
            *command.split()[:2],
            *("--tenant", "nope", "--type", "x", "--severity", "info", "--message", "m"),
        ],
        cwd=ROOT,
        env=terminal,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2, unknown.stderr
    assert "'nope'" in unknown.stderr and "spotify-tenant-1" in unknown.stderr
