from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from tests.harness import BACKENDS, FAST_LIMITS, World

os.environ.setdefault("PTB_TIMEDELTA", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): a test of the SQLite file "
                            "itself, not run on PostgreSQL")


def pytest_report_header() -> str:
    return f"qorgau storage backends: {', '.join(BACKENDS)} (QORGAU_TEST_BACKEND)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked sqlite_only keeps its SQLite run and skips its PostgreSQL one."""
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        params = getattr(getattr(item, "callspec", None), "params", {})
        if marker is not None and params.get("database") == "postgresql":
            reason = marker.args[0] if marker.args else "SQLite only"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
        if item.path.name == "test_postgres.py" and params.get("database") == "sqlite":
            item.add_marker(pytest.mark.skip(reason="runs once, on its own PostgreSQL database"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """One private PostgreSQL cluster for the whole session (tests/pgcluster.py)."""
    from tests.pgcluster import Cluster, bindir

    try:
        bindir()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise  # CI installs the server (.ci/run): missing there, the run fails
        pytest.skip(str(exc))
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The test's own empty database, once on each backend: a file in tmp_path, and a fresh
    PostgreSQL database in the session's cluster (dropped with the cluster)."""
    if request.param == "sqlite":
        return tmp_path / "qorgau.db"
    return str(await request.getfixturevalue("pg_cluster").new_database())


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    e = Emulator(limits=FAST_LIMITS)
    await e.start()
    try:
        yield e
    finally:
        await stop_or_show_why(e.stop(), "the emulator's stop")


@pytest.fixture
async def world(emu: Emulator, tmp_path: Path, database: Path | str) -> AsyncIterator[World]:
    w = World(emu, tmp_path)
    w.db = database
    try:
        yield w
    finally:
        await stop_or_show_why(w.stop(), "the bot's stop")


async def stop_or_show_why(stopping: Coroutine[Any, Any, None], what: str,
                           within: float = 120.0) -> None:
    """A teardown that hangs fails the test and prints every task's stack (the stop's own
    among them, taken before it is cancelled), instead of stalling the whole run until
    CI's time is up. The stop is cancelled but not awaited: it may hang in its cleanup."""
    task = asyncio.ensure_future(stopping)
    done, _ = await asyncio.wait({task}, timeout=within)
    if task in done:
        task.result()
        return
    for each in asyncio.all_tasks():
        each.print_stack(file=sys.stderr)
    task.cancel()
    raise AssertionError(f"{what} did not end within {within:.0f} s")
