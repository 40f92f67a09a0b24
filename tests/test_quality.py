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
