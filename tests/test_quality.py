"""The linters the project holds itself to: ruff over the whole tree and mypy over the
packages listed in pyproject's ``[tool.mypy]``. Both run as they would from a shell."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", MYPY_FORCE_COLOR="0")
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=900,
    )


def test_ruff() -> None:
    proc = _run("ruff", "check", ".")
    assert proc.returncode == 0, f"ruff check . failed:\n{proc.stdout}{proc.stderr}"


def test_mypy() -> None:
    proc = _run("mypy")  # the packages to check come from pyproject's [tool.mypy]
    assert proc.returncode == 0, f"mypy failed:\n{proc.stdout}{proc.stderr}"


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)\n```$", text, re.MULTILINE | re.DOTALL)


def test_ci_runs_the_readme_test_command() -> None:
    """The README starts with the install-and-run and the test command, and CI runs the
    latter verbatim, so what CI proves is what a newcomer types."""
    blocks = _sh_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "README.md must start with two ```sh blocks"
    run, test = blocks[0], blocks[1]
    assert "qorgau run" in run and "qorgau demo" in run, run
    assert "pytest" in test and "\n" not in test, test
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines(), f".ci/run does not run the README's test command:\n{test}"
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci


# Releases before these have published security advisories (see the comment in pyproject).
ADVISORY_FLOORS = {"aiohttp": "3.14.3", "h11": "0.16", "idna": "3.7", "certifi": "2024.7.4",
                   "anyio": "4.4", "pytest": "9.0.3"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def test_dependencies_exclude_advised_releases_and_unused_extras() -> None:
    """pyproject's lower bounds keep out releases with advisories, python-telegram-bot comes
    without the extras the code does not use, and what is installed meets the bounds."""
    import tomllib
    from importlib.metadata import version

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    floors: dict[str, str] = {}
    for spec in wanted:
        match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", spec)
        assert match is not None, spec
        name, extras, bounds = match.groups()
        assert not (name == "python-telegram-bot" and extras), spec
        low = re.search(r">=\s*([\d.]+)", bounds)
        if low:
            floors[name.lower()] = low.group(1)
    for name, floor in ADVISORY_FLOORS.items():
        assert name in floors and _version(floors[name]) >= _version(floor), (name, floors)
        assert _version(version(name)) >= _version(floor), (name, version(name))


async def test_httpcore_finds_its_async_library_without_an_import_search() -> None:
    """httpcore asks ``sniffio`` which async library runs, on every lock and event of
    every request to the Bot API; without sniffio installed each ask is a failed import
    (about 40 µs, 4% of the bot's busy time in the latency bench)."""
    from httpcore._synchronization import current_async_library

    assert current_async_library() == "asyncio"
    assert "sniffio" in sys.modules
