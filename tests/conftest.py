from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.harness import BACKEND, FAST_LIMITS, World

os.environ.setdefault("PTB_TIMEDELTA", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): a test of the SQLite file "
                            "itself, skipped when QORGAU_TEST_BACKEND=postgresql")


def pytest_report_header() -> str:
    return f"qorgau storage backend: {BACKEND} (QORGAU_TEST_BACKEND)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if BACKEND != "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "SQLite only"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """One private PostgreSQL cluster for the whole session (tests/pgcluster.py)."""
    from tests.pgcluster import Cluster

    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The test's own empty database: a file in tmp_path, or a fresh PostgreSQL database
    in the session's cluster (dropped with the cluster)."""
    if BACKEND != "postgresql":
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
