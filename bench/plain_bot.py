"""``python -m bench.plain_bot``: the bot exactly as ``python -m bot`` runs it, but with a
codec that does not encrypt, so ``python -m bench latency`` can show what encryption
costs an alert. It exists only in the benchmarks: the bot itself has no plain-text mode.

The values still pass through the codec and carry its prefix, so every storage path is the
same; only AES-GCM and base64 are left out.
"""

from __future__ import annotations

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
    from bot.cli import run_bot

    return run_bot(PlainCodec())


if __name__ == "__main__":
    sys.exit(main())
