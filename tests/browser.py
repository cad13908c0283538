"""What the browser tests share: the web app as its own process, and Debian's chromium.

Chromium is a system tool (`apt-get install chromium`): outside CI a machine without it skips
the browser tests, with the reason; in CI (``CI`` set, ``.ci/run`` installs it) it fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.services import ManagedProcess, cli, free_port, wait_for

CHROMIUM = os.environ.get("ALERTING_CHROMIUM", "/usr/bin/chromium")
#: Without these, Chromium reaches for Google's hosts, which this kind of machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(pw: Any) -> Any:
    """Debian's chromium through Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        what = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{what}; CI must run the browser tests")
        pytest.skip(f"{what}; CI runs the browser tests")
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def running_web_app(stack: Stack, name: str) -> Iterator[str]:
    """`alerting web` on a free port, on the test services; its base URL."""
    port = free_port()
    proc = ManagedProcess(name, cli("web", "--port", str(port)), stack.env, stack.log_dir).start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, what="the web app to answer", timeout=60)
        yield url
    finally:
        proc.stop()
