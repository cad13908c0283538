"""``alerting up``: the whole stack in one terminal, on embedded services when none are set."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from alerting.settings import Settings, get_settings

console = Console()


def _secret_key(settings: Settings, data_dir: Path) -> str:
    """The operator's key, else one generated once and kept with the local data."""
    if settings.secret_key:
        return settings.secret_key.get_secret_value()
    path = data_dir / "secret.key"
    if not path.exists():
        from alerting.secrets import SecretBox

        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(SecretBox.generate_key())
        path.chmod(0o600)
    return path.read_text().strip()


def run_stack(*, sandbox: bool | None, concurrency: int) -> int:
    from honcho.manager import Manager

    from alerting.db.migrate import upgrade
    from alerting.domain.tenants import load_tenants_dir
    from alerting.embedded import ensure_services
    from alerting.local_stack import forget_stack, record_stack
    from alerting.tenants_sync import sync_tenants

    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    postgres_url, redis_url, services = ensure_services(settings, data_dir)
    try:
        # The CLI in another terminal of this folder uses these when its URLs are unset.
        record_stack(data_dir, postgres_url=postgres_url, redis_url=redis_url)
        env = dict(os.environ)
        env.update(POSTGRES_URL=postgres_url, REDIS_URL=redis_url)
        env["ALERTING_SECRET_KEY"] = _secret_key(settings, data_dir)
        metrics_dir = data_dir / "metrics"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()  # counters of a previous run's processes would be summed in
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

        # Either credential means real Slack is configured; the sandbox is for when none is.
        has_slack = bool(settings.slack_webhook_url or settings.slack_bot_token)
        use_sandbox = (not has_slack) if sandbox is None else sandbox
        sandbox_url = f"http://127.0.0.1:{settings.sandbox_port}"
        if use_sandbox:
            env["SLACK_WEBHOOK_URL"] = f"{sandbox_url}/services/T0000SANDBOX/B0000SANDBOX/sandbox"
            env["SLACK_API_URL"] = f"{sandbox_url}/api/"
            # The sandbox's own token: real credentials never go to the local stand-in. The
            # Web API mode gives threads and in-place updates, visible on the sandbox page.
            env["SLACK_BOT_TOKEN"] = "xoxb-sandbox"
            # Pages go to the sandbox's PagerDuty stand-in too, unless the operator set one.
            env.setdefault("PAGERDUTY_EVENTS_URL", f"{sandbox_url}/pagerduty/v2/enqueue")
            # The sandbox page's clicks and slash commands go to the web app, signed as Slack
            # signs them (a local secret when none is set; it signs nothing real).
            env["ALERTING_SANDBOX_APP_URL"] = f"http://127.0.0.1:{settings.web_port}"
            env.setdefault("SLACK_SIGNING_SECRET", "sandbox-signing-secret")

        run_settings = Settings.model_validate(env)
        upgrade(postgres_url)
        tenants, problems = load_tenants_dir(settings.tenants_dir, settings.allowed_webhook_hosts)
        for problem in problems:
            console.print(f"[yellow]tenant config problem:[/yellow] {problem}", highlight=False)
        created, updated = sync_tenants(tenants, run_settings)

        python = sys.executable
        cli = [python, "-m", "alerting.cli"]
        processes = {
            "web": [*cli, "web"],
            "worker": [*cli, "worker", "--concurrency", str(concurrency)],
            "beat": [*cli, "beat"],
            "flower": [
                python,
                "-m",
                "celery",
                "-A",
                "workers",
                "flower",
                f"--port={settings.flower_port}",
                "--address=127.0.0.1",
            ],
        }
        if use_sandbox:
            processes["sandbox"] = [*cli, "sandbox", "--port", str(settings.sandbox_port)]

        # Flower listens on 127.0.0.1 only; its API is for the local operator.
        env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
        table = Table("what", "where", title="alerting is up")
        table.columns[1].overflow = "fold"
        table.add_row(
            "web API", f"http://{settings.web_host}:{settings.web_port}  (/metrics, /docs)"
        )
        table.add_row("Flower", f"http://127.0.0.1:{settings.flower_port}")
        if use_sandbox:
            table.add_row("Slack sandbox", f"{sandbox_url}/")
        table.add_row(
            "POSTGRES_URL", postgres_url + ("  (embedded)" if services.postgres_url else "")
        )
        table.add_row("REDIS_URL", redis_url + ("  (embedded)" if services.redis_url else ""))
        table.add_row("tenants", f"{len(tenants)} ({created} new, {updated} updated)")
        console.print(table)
        # Never wrapped: the command must stay one line that can be copied as printed.
        console.print(f"Send one from another terminal, in {Path.cwd()}:", highlight=False)
        console.print(
            f"  {_cli_path()} send --tenant {tenants[0].tenant_id if tenants else 'T'} "
            "--type high_cpu --severity critical --message 'CPU > 95%'",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        console.print("Ctrl-C stops everything; data is kept in " + str(data_dir), highlight=False)

        manager = Manager()
        for name, command in processes.items():
            manager.add_process(name, " ".join(_quote(part) for part in command), env=env)
        # honcho forwards Ctrl-C / SIGTERM to every process and waits for them to stop.
        manager.loop()
        return int(manager.returncode or 0)
    finally:
        forget_stack(data_dir)
        services.stop()


def _cli_path() -> str:
    """How to run ``alerting`` from a new terminal, where the virtualenv may not be active."""
    # The script next to this interpreter, by path: a new terminal has not activated the
    # virtualenv (`make run` does not either), so a bare `alerting` may not be found there.
    script = Path(sys.executable).parent / "alerting"
    try:
        return _quote(str(script.relative_to(Path.cwd())))
    except ValueError:
        return _quote(str(script))


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
