"""A local Telegram Bot API emulator that holds the bot to the real, published API.

Tests, the demo and benchmarks point python-telegram-bot at ``Emulator().base_url`` and
drive simulated people; the emulator validates every call against the bundled Bot API
specification, enforces Telegram's flood limits and can inject faults.
"""

from .faults import Faults
from .limits import Limits
from .people import SimGroup, SimUser
from .server import Emulator
from .state import BotMessage, Call, CallbackAnswer

__all__ = [
    "BotMessage",
    "Call",
    "CallbackAnswer",
    "Emulator",
    "Faults",
    "Limits",
    "SimGroup",
    "SimUser",
]
