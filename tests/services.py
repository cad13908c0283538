"""What the tests share beyond ``alerting.testing``: where the project is, how to call the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from alerting.testing import (
    ManagedProcess,
    SandboxClient,
    free_port,
    free_ports,
    fresh_database,
    prepare_database,
    redis_db_url,
    stack_environment,
    wait_for,
)

__all__ = [
    "ROOT",
    "TEST_SECRET_KEY",
    "ManagedProcess",
    "SandboxClient",
    "cli",
    "free_port",
    "free_ports",
    "fresh_database",
    "prepare_database",
    "redis_db_url",
    "stack_environment",
    "wait_for",
]

ROOT = Path(__file__).resolve().parent.parent
#: Fernet key used by the test processes (tests only; never a real secret).
TEST_SECRET_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
#: Redis database of the test session (flushed at its start); 14 is test_up's, 13 the bench's.
TEST_REDIS_DB = 15


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "alerting.cli", *args]
