"""The record a running `alerting up` leaves for the CLI in another terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alerting.local_stack import RECORD_FILE, forget_stack, read_stack, record_stack


def test_recorded_while_running_and_forgotten_at_exit(tmp_path: Path) -> None:
    path = record_stack(tmp_path, postgres_url="postgresql://pg/x", redis_url="redis://r/0")
    assert path.stat().st_mode & 0o077 == 0, "the URLs may hold passwords: owner only"
    found = read_stack(tmp_path)
    assert found is not None and found.postgres_url == "postgresql://pg/x"
    assert found.redis_url == "redis://r/0" and found.pid == os.getpid()
    forget_stack(tmp_path)
    assert read_stack(tmp_path) is None and not path.exists()


def test_a_record_whose_process_is_gone_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    (tmp_path / RECORD_FILE).write_text(
        json.dumps({"postgres_url": "p", "redis_url": "r", "pid": int(gone.stdout)})
    )
    assert read_stack(tmp_path) is None


@pytest.mark.parametrize("content", ["", "{", '{"pid": 1}', "[]"])
def test_an_unreadable_record_is_ignored(tmp_path: Path, content: str) -> None:
    (tmp_path / RECORD_FILE).write_text(content)
    assert read_stack(tmp_path) is None


def test_another_process_record_is_not_removed(tmp_path: Path) -> None:
    (tmp_path / RECORD_FILE).write_text(
        json.dumps({"postgres_url": "p", "redis_url": "r", "pid": os.getppid()})
    )
    forget_stack(tmp_path)
    assert (tmp_path / RECORD_FILE).exists()
