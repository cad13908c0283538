"""The wheel is what the Dockerfile installs: built, installed non-editable into a fresh virtualenv
outside the source tree, it checks its templates, renders in every locale and migrates a database.

The new virtualenv gets its dependencies from the test virtualenv (a path entry, so the editable
install of the project there stays inactive); the project itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from alerting.i18n import SUPPORTED_LOCALES, translator
from tests.conftest import Stack
from tests.services import ROOT, fresh_database

#: Files of the package that are not Python modules must ship too.
PACKAGES = ("alerting", "workers")
#: What a copy of the source tree for building leaves out.
NOT_SOURCE = (
    ".git",
    ".venv",
    ".alerting",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*cache",
    ".hypothesis",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy, as the Dockerfile does: a build/ folder left in the tree by an earlier
    # build could otherwise slip files that no longer exist into the wheel.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("slack_alerting-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel; returns its bin/ folder."""
    home = tmp_path_factory.mktemp("installed")
    venv.EnvBuilder(with_pip=False).create(home / "venv")
    python = home / "venv" / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--no-deps", "--quiet", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Appended after the new virtualenv's own site-packages: dependencies only.
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "test-dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    return home / "venv" / "bin"


def _run(bin_dir: Path, cwd: Path, *args: str, **env: str) -> str:
    clean_env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "HOME": str(cwd),
        "ALERTING_DATA_DIR": str(cwd / "data"),
        "ALERTING_TENANTS_DIR": str(cwd / "tenants"),
        "LANG": "C.UTF-8",
        **env,
    }
    done = subprocess.run(
        list(args), cwd=cwd, env=clean_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{' '.join(args)} ({done.returncode}):\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder outside the source tree, with a copy of the example tenants."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "tenants").mkdir()
    for path in (ROOT / "config" / "tenants").glob("*.yaml"):
        (folder / "tenants" / path.name).write_text(path.read_text())
    return folder


def _shipped_files() -> set[str]:
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if tracked.returncode == 0 and tracked.stdout.strip():
        names = tracked.stdout.split()
    else:  # an exported tree without git: every file but caches
        names = [
            str(p.relative_to(ROOT))
            for package in PACKAGES
            for p in (ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
    return set(names)


def test_the_wheel_carries_every_file_of_the_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    missing = sorted(_shipped_files() - inside)
    assert not missing, f"not in the wheel (add them to package-data in pyproject.toml): {missing}"
    assert any(name.endswith(".j2") for name in inside)
    assert any(name.endswith(".po") for name in inside)


def test_the_installed_package_comes_from_the_wheel(installed: Path, outside: Path) -> None:
    where = _run(
        installed,
        outside,
        str(installed / "python"),
        "-c",
        "import alerting as a\nprint(a.__file__)",
    )
    assert str(installed.parent) in where and str(ROOT) not in where


def test_templates_check_from_the_wheel(installed: Path, outside: Path) -> None:
    out = _run(installed, outside, str(installed / "alerting"), "templates", "check")
    assert "all templates valid" in out


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_renders_in_every_locale_from_the_wheel(
    installed: Path, outside: Path, locale: str
) -> None:
    out = _run(
        installed,
        outside,
        str(installed / "alerting"),
        "templates",
        "render",
        "--tenant",
        "acme-payments",
        "--type",
        "high_cpu",
        "--locale",
        locale,
        "--label",
        "host=web-1",
    )
    expected = translator(locale).gettext("CPU above threshold on %(host)s", host="web-1")
    assert expected in out


def test_migrations_from_the_wheel(installed: Path, outside: Path, stack: Stack) -> None:
    from alembic.script import ScriptDirectory

    from alerting.db.migrate import MIGRATIONS_DIR

    url = fresh_database(stack.postgres_url, "alerting_wheel_test")
    alerting = str(installed / "alerting")
    _run(installed, outside, alerting, "db", "upgrade", POSTGRES_URL=url)
    current = _run(installed, outside, alerting, "db", "current", POSTGRES_URL=url).strip()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None and current.startswith(head)
