"""``python -m bench.dashboard``: the web UI's live feed under load.

``--clients`` SSE clients (signed-in users, spread evenly over ``--tenants`` tenants) follow
``/ui/events`` of a real ``alerting web`` while alerts arrive at ``--rate`` per second for
``--seconds``, through a real worker. Every ``--reconnect-every`` seconds one client in ten
drops its connection and comes back with ``Last-Event-ID``. It reports:

- event -> client delivery p50/p95/p99: from ``send_alert`` to the client reading the alert's
  first event (target p95 <= 1 s);
- events delivered to a client of another tenant (must be 0), out of all deliveries;
- events missed across the forced reconnects (must be 0): each client's events against its
  tenant's stream from the moment it first connected;
- the authorization check's own cost per request (``ui_requires``: session from Redis, user
  and roles from Postgres), p50/p99 over ``--auth-checks`` calls (target p99 <= 2 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table

from bench.harness import ROOT, bench_stack
from bench.report import make_console
from bench.stats import percentile
from tests.services import free_port, wait_for

PASSWORD = "bench password 0000"


@dataclass
class Client:
    tenant_id: str
    cookie: str
    #: stream ids read, in order
    ids: list[str] = field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    foreign: int = 0
    connected_at_ms: int = 0
    reconnects: int = 0
    received: dict[str, float] = field(default_factory=dict)


def _tenants(count: int) -> list[str]:
    """Make ``count`` tenants (webhook to the sandbox) and a user of each; their ids."""
    from alerting.db.repositories import save_tenant
    from alerting.db.session import session_scope
    from alerting.domain.tenants import TenantConfig
    from alerting.secrets import SecretBox
    from alerting.settings import get_settings
    from alerting.users import create_user

    box = SecretBox.from_settings(get_settings())
    ids = [f"dash-{i:02d}" for i in range(count)]
    with session_scope() as session:
        for tenant_id in ids:
            config = TenantConfig.model_validate(
                {
                    "tenant_id": tenant_id,
                    "name": tenant_id,
                    "slack_config": {"default_channel": f"#{tenant_id}", "rate_limit": 100_000},
                }
            )
            save_tenant(session, config, box)
            create_user(
                session,
                tenant_id=tenant_id,
                email=f"{tenant_id}@bench.example",
                role="viewer",
                password=PASSWORD,
            )
    return ids


def _sign_in(base: str, tenant_id: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as http:
        form = http.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        answer = http.post(
            "/ui/login",
            data={"email": f"{tenant_id}@bench.example", "password": PASSWORD, "csrf": csrf},
            headers={"Cookie": f"alerting_login_csrf={csrf}"},
        )
        found = re.search(r"alerting_session=([^;]+)", answer.headers.get("set-cookie", ""))
        if answer.status_code != 303 or not found:
            raise RuntimeError(f"sign-in of {tenant_id}: {answer.status_code} {answer.text}")
        return found.group(1)


async def _follow(base: str, client: Client, stop: asyncio.Event, drop_after: float) -> None:
    """Read the stream; drop it after ``drop_after`` seconds (if > 0) and come back."""
    import json

    async with httpx.AsyncClient(base_url=base, timeout=None) as http:
        while not stop.is_set():
            headers = {"Cookie": f"alerting_session={client.cookie}"}
            if client.last_id:
                headers["Last-Event-ID"] = client.last_id
            started = time.monotonic()
            try:
                async with http.stream(
                    "GET", f"/ui/events?tenant={client.tenant_id}", headers=headers
                ) as answer:
                    ident = None
                    async for line in answer.aiter_lines():
                        if line.startswith("id: "):
                            ident = line[4:]
                        elif line.startswith("data: ") and ident:
                            data = json.loads(line[6:])
                            now = time.time()
                            client.ids.append(ident)
                            client.last_id = ident
                            if client.first_id is None:
                                client.first_id = ident
                            if data.get("tenant_id") != client.tenant_id:
                                client.foreign += 1
                            event = str(data.get("event_id") or "")
                            if event and data.get("action") != "routed":
                                client.received.setdefault(event, now)
                        if stop.is_set() or (
                            drop_after and time.monotonic() - started > drop_after
                        ):
                            break
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
            client.reconnects += 1


def _auth_cost(app: Any, cookie: str, count: int) -> list[float]:
    from starlette.requests import Request

    from alerting.web.ui_session import _signed_in

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/ui/",
        "headers": [(b"cookie", f"alerting_session={cookie}".encode())],
        "app": app,
        "query_string": b"",
    }
    samples = []
    for _ in range(count):
        request = Request(scope)
        started = time.perf_counter()
        _signed_in(request)
        samples.append(time.perf_counter() - started)
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long alerts arrive")
    parser.add_argument("--reconnect-every", type=float, default=5.0)
    parser.add_argument("--auth-checks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args(argv)
    console = make_console()
    log_dir = ROOT / ".alerting" / "bench-logs" / time.strftime("%Y%m%d-%H%M%S-dashboard")

    with bench_stack(args.concurrency, Path(log_dir)) as stack:
        import os

        os.environ.update(stack.env)
        from alerting.settings import get_settings

        get_settings.cache_clear()
        tenants = _tenants(args.tenants)
        stack.start_alert_worker()
        port = free_port()
        web = stack.start("web", [sys.executable, "-m", "alerting.cli", "web", "--port", str(port)])
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=60, what="the web app", alive=web.check_alive)
        cookies = {t: _sign_in(base, t) for t in tenants}
        clients = [
            Client(tenant_id=tenants[i % len(tenants)], cookie=cookies[tenants[i % len(tenants)]])
            for i in range(args.clients)
        ]
        sent: dict[str, tuple[str, float]] = {}
        asyncio.run(_run(args, base, clients, tenants, sent))
        missed = _missed(stack.redis_url, clients)

        from alerting.web.app import create_app

        auth = _auth_cost(create_app(), cookies[tenants[0]], args.auth_checks)

    latencies = []
    for client in clients:
        for event_id, at in client.received.items():
            if event_id in sent and sent[event_id][0] == client.tenant_id:
                latencies.append(at - sent[event_id][1])
    deliveries = sum(len(c.ids) for c in clients)
    table = Table(title="Dashboard: live feed")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("clients / tenants", f"{args.clients} / {args.tenants}")
    table.add_row("alerts sent", f"{len(sent)} at {args.rate:g}/s")
    table.add_row("events delivered", f"{deliveries}")
    for q in (50, 95, 99):
        table.add_row(f"event -> client p{q}", f"{percentile(latencies, q) * 1000:.0f} ms")
    table.add_row("delivered to another tenant's client", str(sum(c.foreign for c in clients)))
    table.add_row("reconnects", str(sum(c.reconnects for c in clients)))
    table.add_row("missed across reconnects", str(missed))
    table.add_row("auth check p50", f"{percentile(auth, 50) * 1000:.2f} ms")
    table.add_row("auth check p99", f"{percentile(auth, 99) * 1000:.2f} ms")
    console.print(table)
    return 0


async def _run(
    args: argparse.Namespace,
    base: str,
    clients: list[Client],
    tenants: list[str],
    sent: dict[str, tuple[str, float]],
) -> None:
    from alerting import send_alert

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_follow(base, c, stop, args.reconnect_every if i % 10 == 0 else 0.0))
        for i, c in enumerate(clients)
    ]
    await asyncio.sleep(2)  # every client connected
    started = time.monotonic()
    count = int(args.rate * args.seconds)
    for n in range(count):
        due = started + n / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tenant_id = random.choice(tenants)
        at = time.time()
        result = await asyncio.to_thread(
            send_alert.delay,
            tenant_id=tenant_id,
            alert_type=f"dash_{n % 50}",
            severity="warning",
            message=f"alert {n}",
        )
        sent[str(result.id)] = (tenant_id, at)
    await asyncio.sleep(5)  # the last ones delivered
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()


def _missed(redis_url: str, clients: list[Client]) -> int:
    """Entries of each client's tenant stream from its first event on that it never read."""
    import redis

    from alerting.live import stream_key

    r = redis.Redis.from_url(redis_url)
    missed = 0
    for client in clients:
        if client.first_id is None or client.last_id is None:
            continue
        entries: Any = r.xrange(
            stream_key(client.tenant_id), min=client.first_id, max=client.last_id
        )
        seen = set(client.ids)
        missed += len([1 for entry_id, _ in entries if entry_id.decode() not in seen])
    return missed


if __name__ == "__main__":
    sys.exit(main())
