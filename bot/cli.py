"""The ``qorgau`` command: run the bot, run the Telegram emulator, play the demo, migrate."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings, stray_variables
from storage import BackupError, Codec, DataKeyError, StorageError


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
    demo.add_argument("--speed", type=_positive, default=1.0,
                      help="scale the scene's pauses (0.5 is twice as fast)")
    play = sub.add_parser("playground", help="play every phone in a browser: emulator and bot",
                          description="Start the emulator, the bot (temporary database) and "
                                      "a web page on the emulator's server where you play "
                                      "the reporter, the lawyers, the coordinator and a "
                                      "group side by side. Needs no token and no network.")
    play.add_argument("--host", default="127.0.0.1",
                      help="address to serve the page on (default: this machine only)")
    play.add_argument("--port", type=int, default=8090)
    sub.add_parser("sms-demo", help="play the SMS scene: an alert by SMS while Telegram is down",
                   description="Start the emulator, the bot and gammu-smsd on its dummy "
                               "driver (or files written as it writes them) and play a short "
                               "scene: an alert raised by SMS while Telegram is down, and a "
                               "lawyer claiming it by SMS. Needs no token, modem or network.")
    sub.add_parser("migrate", help="apply the database migrations and exit",
                   description="Create or upgrade the database at QORGAU_DATABASE (a SQLite "
                               "file or a postgresql:// URL).")
    sub.add_parser("healthcheck", help="ask the running bot's /healthz; exit 0 if healthy",
                   description="GET /healthz of the bot running with the same settings "
                               "(QORGAU_HTTP_HOST, QORGAU_HTTP_PORT, or 8080 in webhook "
                               "mode). Exit 0 when healthy, 1 otherwise: a container's "
                               "HEALTHCHECK.")
    export = sub.add_parser(
        "export", help="write alerts as CSV for reports (no personal data)",
        description="Write the alerts raised since DATE (UTC) from QORGAU_DATABASE as CSV on "
                    "stdout: region, times, state, outcome, seconds to acknowledge and to "
                    "claim. No names, ids, locations or texts. Works beside a running bot.")
    export.add_argument("--since", required=True, type=_date, metavar="DATE",
                        help="YYYY-MM-DD or an ISO date and time (UTC unless it says)")
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
    cp = sub.add_parser("copy-db", help="copy the database to a new one (SQLite <-> PostgreSQL)",
                        description="Copy every row of SOURCE into TARGET, a new empty "
                                    "database, as stored (personal values stay encrypted "
                                    "with QORGAU_DATA_KEY). Each is a SQLite file path or a "
                                    "postgresql:// URL. Stop the bot first.")
    cp.add_argument("source")
    cp.add_argument("target")
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
        if args.command == "healthcheck":
            return _healthcheck()
        if args.command == "export":
            return asyncio.run(_export(args.since))
        if args.command == "copy-db":
            return asyncio.run(_copy_db(args.source, args.target))
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

            _settings()  # a bad setting is one line here too, not a traceback mid-scene
            return asyncio.run(play(speed=args.speed))
        if args.command == "playground":
            from demo.playground import serve

            _settings()
            return asyncio.run(serve(args.host, args.port))
        if args.command == "sms-demo":
            from demo.sms import play as play_sms

            _settings()
            return asyncio.run(play_sms())
    except SettingsError as exc:
        print(f"qorgau: {exc}", file=sys.stderr)
        return 1 if args.command == "healthcheck" else 2  # 2 is reserved in HEALTHCHECK
    except BackupError as exc:  # the PATH argument, not the database
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


def _settings() -> Settings:
    """The settings, after a warning line for each QORGAU_ variable that is no setting."""
    settings = load_settings()
    for line in stray_variables():
        print(f"qorgau: warning: {line}", file=sys.stderr)
    return settings


def run_bot(codec: Codec | None = None) -> int:
    """``qorgau run`` (``codec``: the benchmark's pass-through one instead of the key's)."""
    from bot.app import run
    from bot.logs import setup_logging

    settings = _settings()
    settings.token()  # fail early, in one line, if it is missing
    setup_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop, codec)

    asyncio.run(main())
    return 0


def _healthcheck() -> int:
    """Standard library only, so the container needs no curl."""
    import json
    import urllib.error
    import urllib.request

    settings = load_settings()
    port = settings.listen_port
    if port is None:
        print("qorgau healthcheck: QORGAU_HTTP_PORT is not set, so nothing serves /healthz",
              file=sys.stderr)
        return 1
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        settings.http_host, settings.http_host)
    url = f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            failing = json.loads(exc.read() or b"{}").get("failing", [])
        except ValueError:
            failing = []
        print(f"unhealthy ({exc.code}): {'; '.join(failing) or exc.reason}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"unhealthy: no answer from {url} ({type(exc).__name__})", file=sys.stderr)
        return 1
    print("healthy" if body.get("ok") else "unhealthy")
    return 0 if body.get("ok") else 1


async def _migrate() -> int:
    from storage import Storage

    settings = _settings()
    storage = Storage(settings.database, settings.codec())
    await storage.open()
    try:
        version = await storage.migrate()
    finally:
        await storage.close()
    print(f"database {storage.describe()} is at schema version {version}")
    return 0


def _positive(text: str) -> float:
    """``--speed``: a finite number above zero (0 or less would stall or race the scene)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number") from None
    if not 0 < value < 1000:  # also refuses nan and inf
        raise argparse.ArgumentTypeError("must be a number above 0 (1 is normal speed)")
    return value


def _date(text: str) -> float:
    """``--since``: a date or date and time, UTC unless an offset is given."""
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("not a date; use YYYY-MM-DD") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


async def _export(since: float) -> int:
    from bot.domain.export import write_csv
    from storage import Storage

    settings = _settings()
    if isinstance(settings.database, Path) and not settings.database.is_file():
        # never create an empty database to report on
        raise StorageError("no database file there")
    async with Storage(settings.database, settings.codec()) as storage, storage.read() as tx:
        alerts = await tx.alerts_since(since)
    write_csv(alerts, sys.stdout)
    return 0


async def _copy_db(source: str, target: str) -> int:
    from storage import postgres
    from storage.copy import copy_db, location

    settings = _settings()
    codec = settings.codec()
    if codec is None:
        raise DataKeyError("QORGAU_DATA_KEY: missing; set the key the source was encrypted "
                           "with (the copy stays encrypted with it)")
    src, dst = location(source), location(target)
    same = (src == dst if isinstance(src, str) or isinstance(dst, str)
            else src.resolve() == dst.resolve())
    try:
        if same:
            raise StorageError("SOURCE and TARGET are the same database")
        copied = await copy_db(src, dst, codec)
    except StorageError as exc:  # about the command's arguments, not QORGAU_DATABASE
        print(f"qorgau: copy-db: {exc}", file=sys.stderr)
        return 2
    shown = postgres.safe_url(target) if postgres.is_url(target) else target
    print(f"copied {sum(copied.values())} rows into {shown}: "
          + ", ".join(f"{t} {n}" for t, n in copied.items() if n))
    return 0


async def _data(args: argparse.Namespace) -> int:
    """rotate-key, backup and restore: each one call on the storage, with the right key."""
    from storage import Storage

    settings = _settings()
    if args.command == "backup":
        async with Storage(settings.database, settings.codec()) as storage:
            await storage.backup(args.path)
        print(f"backup written to {args.path}")
        return 0
    if args.command == "restore" and not args.path.is_file():
        raise BackupError(f"{args.path}: no such backup file")
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
