"""``python -m bench.plain_bot``: the bot exactly as ``python -m bot`` runs it, but with a
codec that does not encrypt, so ``python -m bench latency`` can show what encryption
costs an alert. It exists only in the benchmarks: the bot itself has no plain-text mode.

The values still pass through the codec and carry its prefix, so every storage path is the
same; only AES-GCM and base64 are left out.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from storage.crypto import PREFIX, Codec, DataKeyError

_MARK = f"{PREFIX}00000000."


class PlainCodec(Codec):
    """Wraps values in the sealed format without sealing them (benchmark only)."""

    def __init__(self) -> None:
        super().__init__(bytes(32))
        self.key_id = "00000000"

    def seal(self, plain: str, where: str) -> str:
        return _MARK + plain

    def open(self, sealed: str, where: str) -> str:
        if not sealed.startswith(_MARK):
            raise DataKeyError(f"{where}: a value is not wrapped")
        return sealed[len(_MARK):]

    def plain_size(self, sealed_size: int) -> int:
        return sealed_size - len(_MARK)


def main() -> int:
    from bot.app import run
    from bot.logs import setup_logging
    from bot.settings import load_settings

    settings = load_settings()
    setup_logging(settings.log_level)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop, codec=PlainCodec())

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
