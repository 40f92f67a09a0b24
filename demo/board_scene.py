"""The coordinators' live board in the demo: Dana sets it up in the coordinators' group with
/board, and the story can wait for it to show a state ("🔴 Waiting: 2") as alerts arrive,
are acknowledged and claimed. Self-contained, so the story can call it wherever it fits:

    board = await pin_board(scene)          # after the team has registered
    await board.shows("🔴 Waiting: 2")      # after two alerts arrived

Every change is printed from the emulator's record like any other edited message (one
"is edited in place" line saying what changed), and ``show_whole`` prints the board as the
coordinators see it, with its buttons.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator import BotMessage, SimGroup

if TYPE_CHECKING:
    from demo.scene import Scene

TITLE = "Coordinators"
HEAD = "📋 Live board"


@dataclass
class Board:
    scene: Scene
    group: SimGroup
    message: BotMessage

    def counts(self) -> str:
        lines = (self.message.text or "").splitlines()
        return lines[1] if len(lines) > 1 else ""

    async def shows(self, fragment: str, within: float = 30.0) -> None:
        """Wait until the pinned board (edited in place, never re-sent) shows ``fragment``
        in its counts line: the story goes on only once the board has caught up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while fragment not in self.counts():
            if loop.time() > deadline:
                raise TimeoutError(f"the board never showed {fragment!r}: {self.counts()!r}")
            await asyncio.sleep(0.05)

    def show_whole(self) -> None:
        """The board as the coordinators' group sees it now, with its buttons."""
        pinned = self.group.chat.pinned[-1:] == [self.message.message_id]
        body = (self.message.text or "").splitlines()
        body += ["  ".join(f"[{label}]" for label, _ in row) for row in self.message.inline_rows]
        self.scene.stage.block([self.group.id], f"{'pinned ' if pinned else ''}message, edited "
                               f"{self.message.edit_count} times so far", body)


async def pin_board(scene: Scene) -> Board:
    """Dana adds the bot to the coordinators' group as an administrator (it pins) and sends
    /board there: one message, pinned, that the bot keeps current."""
    cast = scene.cast
    group = cast.emu.group(title=TITLE, bot_admin=True)
    scene.stage.names[group.id] = TITLE
    scene.stage.roles[group.id] = "group"
    mark = group.mark()
    await group.send_command(cast.coordinator.sim, "/board")
    message = await group.wait_for(HEAD, after=mark, timeout=30.0)
    board = Board(scene, group, message)
    await board.shows("🔴 Waiting: 0")
    return board
