"""Run the emulator on its own, e.g. for the demo or a manually started bot."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .limits import Limits
from .server import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Local Telegram Bot API emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="bot token to accept (default: generated)")
    parser.add_argument("--no-limits", action="store_true", help="disable Telegram's flood limits")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    limits = None if args.no_limits else Limits()
    emu = Emulator(token=args.token, host=args.host, port=args.port, limits=limits)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    await emu.start()
    print(f"api_url: {emu.api_url}", flush=True)
    print(f"base_url: {emu.base_url}", flush=True)
    print(f"token: {emu.token}", flush=True)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:  # pragma: no cover
        pass
    return 0
