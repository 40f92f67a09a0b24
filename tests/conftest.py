from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.harness import FAST_LIMITS, World

os.environ.setdefault("PTB_TIMEDELTA", "1")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(limits=FAST_LIMITS) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator, tmp_path: Path) -> AsyncIterator[World]:
    w = World(emu, tmp_path)
    try:
        yield w
    finally:
        await w.stop()
