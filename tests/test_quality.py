"""The linters the project holds itself to: ruff over the whole tree and mypy over the
packages listed in pyproject's ``[tool.mypy]``. Both run as they would from a shell."""

from __future__ import annotations

import os
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
