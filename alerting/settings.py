"""Typed settings, read from the environment once per process.

Tests and tools build their own ``Settings(...)`` instead of patching globals; everything
else calls :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerting.domain.tenants import SLACK_WEBHOOK_HOST


class MissingSetting(RuntimeError):
    """A service the command needs is not configured (its URL is unset)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    # --- services (the seed's names) ---
    postgres_url: str | None = Field(default=None, alias="POSTGRES_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    #: The broker (``amqp://`` for RabbitMQ); the broker is REDIS_URL's Redis when unset.
    celery_broker_url: str | None = Field(default=None, alias="CELERY_BROKER_URL")
    #: Seconds a process waits for the broker to connect or answer, per attempt; a producer
    #: gives up after two attempts (see alerting/broker.py, ``publish_bound``).
    broker_timeout: float = Field(default=1.0, alias="ALERTING_BROKER_TIMEOUT", gt=0)
    #: Seconds a process waits for PostgreSQL to accept a connection.
    db_connect_timeout: int = Field(default=3, alias="ALERTING_DB_CONNECT_TIMEOUT", gt=0)
    #: Seconds a standby beat waits between attempts to take the scheduling lock.
    beat_lock_poll_seconds: float = Field(default=1.0, alias="ALERTING_BEAT_LOCK_POLL", gt=0)

    # --- Slack (the seed's names, plus the Web API base URL for the sandbox) ---
    slack_webhook_url: SecretStr | None = Field(default=None, alias="SLACK_WEBHOOK_URL")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    #: Seconds before an HTTP request to Slack is abandoned (connect and read each).
    slack_timeout: float = Field(default=10.0, alias="ALERTING_SLACK_TIMEOUT", gt=0)

    # --- PagerDuty and ServiceNow ---
    #: The Events API v2 endpoint (a proxy, or the sandbox's stand-in in development).
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue", alias="PAGERDUTY_EVENTS_URL"
    )
    #: Seconds before a request to PagerDuty or ServiceNow is abandoned (connect and read each).
    integration_timeout: float = Field(default=10.0, alias="ALERTING_INTEGRATION_TIMEOUT", gt=0)
    #: Attempts (429s, 5xx, network errors) before an integration call is declared dead.
    integration_max_attempts: int = Field(
        default=8, alias="ALERTING_INTEGRATION_MAX_ATTEMPTS", gt=0
    )

    # --- the project's own ---
    tenants_dir: Path = Field(default=Path("config/tenants"), alias="ALERTING_TENANTS_DIR")
    #: Where `alerting up` and the test suite keep embedded PostgreSQL/Redis data and logs.
    data_dir: Path = Field(default=Path(".alerting"), alias="ALERTING_DATA_DIR")
    #: Fernet key(s), comma separated, newest first; encrypts tenant secrets at rest.
    secret_key: SecretStr | None = Field(default=None, alias="ALERTING_SECRET_KEY")
    #: Largest accepted alert message, in characters.
    max_message_chars: int = Field(default=8000, alias="ALERTING_MAX_MESSAGE_CHARS", gt=0)
    #: Largest HTTP request body, in bytes; larger ones are answered 413 before anything
    #: else. A tenant's ``quotas.max_body_bytes`` may lower it for that tenant.
    max_body_bytes: int = Field(default=1_048_576, alias="ALERTING_MAX_BODY_BYTES", gt=0)
    #: First retry countdown for transient Slack failures, in seconds; doubles per attempt.
    retry_base_seconds: float = Field(default=2.0, alias="ALERTING_RETRY_BASE_SECONDS", gt=0)
    #: Largest retry countdown, in seconds. Kept far below the broker visibility timeout.
    retry_max_seconds: float = Field(default=120.0, alias="ALERTING_RETRY_MAX_SECONDS", gt=0)
    #: Attempts before a transiently failing notification is declared dead.
    max_delivery_attempts: int = Field(default=8, alias="ALERTING_MAX_DELIVERY_ATTEMPTS", gt=0)
    #: Seconds a broker message may stay unacknowledged before Redis redelivers it: what a
    #: SIGKILLed worker's messages may be delayed by (Redis broker only). At least twice the
    #: longest countdown (ALERTING_RETRY_MAX_SECONDS), see docs/architecture.md.
    visibility_timeout: int = Field(default=300, alias="ALERTING_VISIBILITY_TIMEOUT", gt=0)
    #: Seconds after which the sweeper re-enqueues work that never reached the broker.
    sweep_after_seconds: int = Field(default=30, alias="ALERTING_SWEEP_AFTER_SECONDS", gt=0)
    #: How often beat runs the sweeper, in seconds.
    sweep_interval_seconds: float = Field(default=15.0, alias="ALERTING_SWEEP_INTERVAL", gt=0)
    #: Hosts a tenant's webhook URLs may point at besides hooks.slack.com (comma separated),
    #: e.g. a proxy or the local sandbox; their URLs may then be http://. The operator's own
    #: SLACK_WEBHOOK_URL is trusted as it is.
    webhook_hosts: str = Field(default="", alias="ALERTING_WEBHOOK_HOSTS")
    #: Consecutive transient failures of one destination that open its circuit breaker.
    breaker_failures: int = Field(default=5, alias="ALERTING_BREAKER_FAILURES", gt=0)
    #: Seconds an open circuit breaker holds deliveries to its destination before a probe.
    breaker_cooldown_seconds: float = Field(
        default=30.0, alias="ALERTING_BREAKER_COOLDOWN_SECONDS", gt=0
    )
    #: How often beat runs the escalation tick, in seconds: a level fires at most this late.
    #: Seconds between beat's group flushes (how late a group's digest may be, at most).
    group_tick_seconds: float = Field(default=1.0, alias="ALERTING_GROUP_TICK", gt=0)
    escalation_tick_seconds: float = Field(default=5.0, alias="ALERTING_ESCALATION_TICK", gt=0)
    #: How often a worker serving all tenants looks for newly synced tenants, in seconds.
    tenant_poll_seconds: float = Field(default=10.0, alias="ALERTING_TENANT_POLL_SECONDS", gt=0)
    #: Web app bind address.
    #: Messages per second the workers send to one channel. Slack accepts about one; the
    #: quarter second to spare keeps the posts' own timing jitter from ever bringing two of
    #: ours less than a second apart.
    channel_per_second: float = Field(default=0.8, alias="ALERTING_CHANNEL_RATE", gt=0)
    #: Messages one channel may receive at once after a quiet spell (Slack's short burst).
    channel_burst: int = Field(default=1, alias="ALERTING_CHANNEL_BURST", ge=1)
    #: Anomaly detection: seconds of one bucket of the alert-count series (a minute), how
    #: often beat scores them, buckets counted in "N in 10 min", the probation of a new
    #: series and the calm buckets that end an episode. Tests shrink them.
    anomaly_bucket_seconds: int = Field(default=60, alias="ALERTING_ANOMALY_BUCKET", gt=0)
    anomaly_tick_seconds: float = Field(default=60.0, alias="ALERTING_ANOMALY_TICK", gt=0)
    anomaly_window_buckets: int = Field(default=10, alias="ALERTING_ANOMALY_WINDOW", gt=0)
    anomaly_probation_buckets: int = Field(default=1440, alias="ALERTING_ANOMALY_PROBATION", gt=0)
    anomaly_calm_buckets: int = Field(default=10, alias="ALERTING_ANOMALY_CALM", gt=0)
    #: How often beat retrains incident prediction on each tenant's history, in seconds.
    prediction_train_seconds: float = Field(default=3600.0, alias="ALERTING_PREDICTION_TRAIN", gt=0)
    #: Where users open an alert (links in anomaly messages): the web app's public address.
    public_url: str = Field(default="http://127.0.0.1:8000", alias="ALERTING_PUBLIC_URL")

    #: Seconds a task may run before SoftTimeLimitExceeded is raised in it. The longest
    #: legitimate task makes a few Slack or integration requests, each bounded by its timeout.
    task_soft_time_limit: float = Field(default=120.0, alias="ALERTING_TASK_SOFT_TIME_LIMIT", gt=0)
    #: Seconds after which the pool process running a task is killed and replaced.
    task_time_limit: float = Field(default=150.0, alias="ALERTING_TASK_TIME_LIMIT", gt=0)
    #: Longest a new alert's message (or an escalation page) should wait for its posting slot,
    #: in seconds. Past it, a channel's waiting alerts fold into one digest message (pages and
    #: criticals only among themselves).
    max_wait_seconds: float = Field(default=5.0, alias="ALERTING_MAX_WAIT", gt=0)
    #: A tenant's ``chat.update`` calls per minute (Slack's own budget for that method,
    #: separate from posts), with a burst of ten.
    updates_per_minute: float = Field(default=50.0, alias="ALERTING_UPDATE_RATE", gt=0)
    web_host: str = Field(default="127.0.0.1", alias="ALERTING_WEB_HOST")
    web_port: int = Field(default=8000, alias="ALERTING_WEB_PORT")
    sandbox_port: int = Field(default=8025, alias="ALERTING_SANDBOX_PORT")
    flower_port: int = Field(default=5555, alias="ALERTING_FLOWER_PORT")

    @property
    def allowed_webhook_hosts(self) -> frozenset[str]:
        extra = {h.strip().lower() for h in self.webhook_hosts.split(",") if h.strip()}
        return frozenset({SLACK_WEBHOOK_HOST, *extra})

    def require_postgres_url(self) -> str:
        if not self.postgres_url:
            raise MissingSetting(
                "POSTGRES_URL is not set: export it, or start the stack with `alerting up`, "
                "which starts an embedded PostgreSQL"
            )
        return self.postgres_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise MissingSetting(
                "REDIS_URL is not set: export it, or start the stack with `alerting up`, "
                "which starts an embedded Redis"
            )
        return self.redis_url

    def require_broker_url(self) -> str:
        """``CELERY_BROKER_URL`` when set, else the shared-state Redis."""
        return self.celery_broker_url or self.require_redis_url()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
