from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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
    async with Emulator(limits=FAST_LIMITS) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator, tmp_path: Path, database: Path | str) -> AsyncIterator[World]:
    w = World(emu, tmp_path)
    w.db = database
    try:
        yield w
    finally:
        await w.stop()
