"""The ``qorgau`` command: run the bot, run the Telegram emulator, play the demo, migrate."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from bot.settings import SettingsError, load_settings
from storage import Codec, DataKeyError, StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qorgau",
        description="Qorgau: a Telegram bot that pages on-call lawyers when a reporter is "
                    "detained, and keeps paging until one claims the case.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("run", help="run the bot (needs QORGAU_BOT_TOKEN)",
                   description="Run the bot against the Bot API at QORGAU_TELEGRAM_API_URL "
                               "until interrupted (SIGINT/SIGTERM).")
    emu = sub.add_parser("emulator", help="run the local Telegram Bot API emulator alone",
                         description="Serve the local Bot API emulator (for trying the bot "
                                     "without Telegram) until interrupted.")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8081)
    emu.add_argument("--token", default=None, help="bot token to accept (default: generated)")
    emu.add_argument("--no-limits", action="store_true", help="do not enforce rate limits")
    demo = sub.add_parser("demo", help="play a scripted scene: emulator and bot in one process",
                          description="Start the emulator and the bot with a temporary "
                                      "database and play a short scene, printed as it "
                                      "happens. Needs no token and no network.")
    demo.add_argument("--speed", type=float, default=1.0,
                      help="scale the scene's pauses (0.5 is twice as fast)")
    sub.add_parser("migrate", help="apply the database migrations and exit",
                   description="Create or upgrade the SQLite database at QORGAU_DATABASE.")
    _data_commands(sub)
    return parser


def _data_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("keygen", help="print a new data key for QORGAU_DATA_KEY",
                   description="Print 32 random bytes in base64: a data key that encrypts "
                               "every personal value at rest. Keep a copy somewhere safe.")
    rot = sub.add_parser("rotate-key", help="re-encrypt the database under a new data key",
                         description="With the bot stopped: re-encrypt every personal value "
                                     "from QORGAU_DATA_KEY_OLD to QORGAU_DATA_KEY, in "
                                     "batches; run it again after an interruption.")
    rot.add_argument("--batch", type=int, default=500, help="rows per transaction")
    back = sub.add_parser("backup", help="copy the database while the bot runs",
                          description="Write a consistent copy of QORGAU_DATABASE to PATH "
                                      "(a new file) with SQLite's online backup API; the "
                                      "copy is as encrypted as the database.")
    back.add_argument("path", type=Path)
    res = sub.add_parser("restore", help="replace the database with a backup",
                         description="With the bot stopped: check that QORGAU_DATA_KEY "
                                     "opens the backup at PATH, then replace "
                                     "QORGAU_DATABASE with it.")
    res.add_argument("path", type=Path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return run_bot()
        if args.command == "migrate":
            return asyncio.run(_migrate())
        if args.command == "keygen":
            from storage.crypto import new_key

            print(new_key())
            return 0
        if args.command in ("rotate-key", "backup", "restore"):
            return asyncio.run(_data(args))
        if args.command == "emulator":
            from emulator.cli import main as emulator_main

            extra = ["--host", args.host, "--port", str(args.port)]
            if args.token:
                extra += ["--token", args.token]
            if args.no_limits:
                extra.append("--no-limits")
            return emulator_main(extra)
        if args.command == "demo":
            from demo.scene import play

            return asyncio.run(play(speed=args.speed))
    except SettingsError as exc:
        print(f"qorgau: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"qorgau: QORGAU_DATABASE: {exc}", file=sys.stderr)
        return 2
    except DataKeyError as exc:
        print(f"qorgau: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def run_bot(codec: Codec | None = None) -> int:
    """``qorgau run`` (``codec``: the benchmark's pass-through one instead of the key's)."""
    from bot.app import run
    from bot.logs import setup_logging

    settings = load_settings()
    settings.token()  # fail early, in one line, if it is missing
    setup_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop, codec)

    asyncio.run(main())
    return 0


async def _migrate() -> int:
    from storage import Storage

    settings = load_settings()
    storage = Storage(settings.database, settings.codec())
    await storage.open()
    try:
        version = await storage.migrate()
    finally:
        await storage.close()
    print(f"database {settings.database} is at schema version {version}")
    return 0


async def _data(args: argparse.Namespace) -> int:
    """rotate-key, backup and restore: each one call on the storage, with the right key."""
    from storage import Storage

    settings = load_settings()
    if args.command == "backup":
        async with Storage(settings.database, settings.codec()) as storage:
            await storage.backup(args.path)
        print(f"backup written to {args.path}")
        return 0
    if args.command == "restore" and not args.path.is_file():
        raise StorageError(f"{args.path}: no such backup file")
    rotating = args.command == "rotate-key"
    storage = Storage(settings.database, settings.codec(rotating), exclusive=True)
    await storage.open()
    try:
        if rotating:
            changed = await storage.rotate(max(1, args.batch))
            print(f"re-encrypted {changed} rows; keep the old key only for older backups")
        else:
            await storage.restore_from(args.path)
            await storage.migrate()
            print(f"{settings.database} restored from {args.path}")
    finally:
        await storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
