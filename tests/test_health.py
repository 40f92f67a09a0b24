"""Running for real: /healthz, /metrics, ``qorgau healthcheck``, the outage message to
coordinators, JSON logs, the proxy, and the one-line refusals of bad start-up input. All
against the real bot over the emulator; nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import ManualClock
from emulator import Faults
from tests.harness import (
    ALMATY,
    TEST_KEY,
    BotProcess,
    World,
    card_for,
    claim,
    raise_alert,
    rows,
)
from tests.test_webhook import free_port, until

REPO = Path(__file__).resolve().parent.parent
CLI = "import sys; from bot.cli import main; sys.exit(main())"


async def healthz(port: int, query: str = "") -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{port}/healthz{query}")
    return resp.status_code, resp.json()


async def test_healthz_turns_503_when_the_bot_api_goes_away_and_200_when_back(
        world: World) -> None:
    port = free_port()
    world.watch_every = 0.05
    await world.start(http_port=port)
    assert await healthz(port) == (200, {"ok": True, "failing": [], "role": "leader"})
    emu = world.emu
    await emu.stop()
    verdicts: list[tuple[int, dict[str, object]]] = []

    async def unhealthy() -> bool:
        verdicts.append(await healthz(port))
        return verdicts[-1][0] == 503

    await until_async(unhealthy, "503 after the Bot API went away")
    failing = verdicts[-1][1]["failing"]
    assert isinstance(failing, list) and failing[0].startswith("telegram: unreachable")
    # A load balancer's check says whether this instance should take the webhooks: a
    # leader that cannot reach the Bot API still should (a standby could not do better,
    # and taking the only leader out would refuse every update, SOS included).
    status, body = await healthz(port, "?leader")
    assert status == 200 and body["ok"] is False and body["role"] == "leader", body
    await emu.start()  # the same port: the Bot API is back

    async def healthy() -> bool:
        return (await healthz(port))[0] == 200

    await until_async(healthy, "200 once the Bot API is back")
    await world.register_coordinator()


async def test_healthz_answers_while_the_start_waits_for_the_bot_api(world: World) -> None:
    port = free_port()
    emu = world.emu
    await emu.stop()  # Telegram is blocked when the server boots
    starting = asyncio.create_task(world.start(http_port=port))
    verdicts: list[tuple[int, dict[str, object]]] = []

    async def says_why() -> bool:
        try:
            verdicts.append(await healthz(port))
        except httpx.HTTPError:
            return False  # not listening yet
        return any(str(p).startswith("telegram: unreachable")
                   for p in verdicts[-1][1]["failing"])  # type: ignore[attr-defined]

    await until_async(says_why, "/healthz to name the unreachable Bot API")
    assert verdicts[-1][0] == 503
    assert "starting: waiting for the Bot API" in verdicts[-1][1]["failing"]  # type: ignore[operator]
    await emu.start()
    await starting
    assert await healthz(port) == (200, {"ok": True, "failing": [], "role": "leader"})


async def until_async(check: object, what: str, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_metrics_parse_with_the_expected_families(world: World) -> None:
    port = free_port()
    await world.start(http_port=port)
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(lawyer, alert_id)
    await world.drain()
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    assert {"qorgau_alerts", "qorgau_alert_ack_seconds", "qorgau_alert_claim_seconds",
            "qorgau_outbox_messages", "qorgau_outbox_oldest_pending_seconds",
            "qorgau_botapi_errors", "qorgau_botapi_rate_limited", "qorgau_botapi_calls",
            "qorgau_botapi_reachable", "qorgau_updates"} <= set(families)

    def value(family: str, name: str, **labels: str) -> float:
        return next(s.value for s in families[family].samples
                    if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    assert value("qorgau_alerts", "qorgau_alerts", state="claimed") == 1
    assert value("qorgau_alert_claim_seconds", "qorgau_alert_claim_seconds_count") == 1
    assert value("qorgau_alert_ack_seconds", "qorgau_alert_ack_seconds_count") == 1
    assert value("qorgau_outbox_messages", "qorgau_outbox_messages", state="pending") == 0
    assert value("qorgau_outbox_oldest_pending_seconds",
                 "qorgau_outbox_oldest_pending_seconds") == 0
    assert value("qorgau_updates", "qorgau_updates_total", outcome="processed") > 5
    assert value("qorgau_botapi_reachable", "qorgau_botapi_reachable") == 1
    assert "Aida" not in resp.text and "Marat" not in resp.text


async def test_coordinators_hear_once_that_the_bot_was_sick(world: World) -> None:
    clock = ManualClock()
    world.watch_every = 0.05
    await world.start(clock, sick_after_seconds=60)
    coordinator = await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await world.drain()
    world.emu.faults = Faults(rate=1.0, kinds=("500",))  # Telegram takes no message
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await until(lambda: rows(world.db, "SELECT id FROM alerts") != [], "the alert")
    clock.advance(150)  # its pages have now waited 150 s, past the 60 s limit
    await until(lambda: rows(world.db, "SELECT 1 FROM kv WHERE key = 'sick_since'") != [],
                "the outage to be noticed")
    mark = coordinator.mark()
    world.emu.faults = None
    # Time goes on as it would: a page that failed just before the faults were cleared is
    # due again a second later, and only once every old page is out is the bot well.
    for _ in range(25):  # at most 25 s: the episode stays "3 min" (150 s to 175 s)
        clock.advance(1)
        if any("was not working normally" in (m.text or "")
               for m in coordinator.chat.bot_messages[mark:]):
            break
        await asyncio.sleep(0.4)
    told = await coordinator.wait_for("was not working normally", after=mark, timeout=30)
    assert told.text is not None
    assert "for 3 min" in told.text and "Alerts raised in that time: 1" in told.text
    [(alert_id,)] = rows(world.db, "SELECT id FROM alerts")
    await card_for(lawyer, alert_id)  # late, but it went
    await until(lambda: rows(world.db, "SELECT 1 FROM kv WHERE key = 'sick_since'") == [],
                "the outage to be closed")
    clock.advance(10)
    await world.drain()
    await asyncio.sleep(0.3)  # a few more watch rounds: still one message
    notices = [m for m in world.emu.sent(chat_id=coordinator.id, method="sendMessage")
               if "was not working normally" in str(m.params.get("text"))]
    assert len(notices) == 1


async def test_coordinators_hear_when_telegram_was_out_of_reach(world: World) -> None:
    clock = ManualClock()
    world.watch_every = 0.05
    await world.start(clock, sick_after_seconds=60)
    coordinator = await world.register_coordinator()
    await world.drain()
    emu = world.emu
    await emu.stop()
    await until(lambda: world.runner is not None and world.runner.api.down_since is not None,
                "the Bot API to be missed")
    clock.advance(600)
    await until(lambda: rows(world.db, "SELECT 1 FROM kv WHERE key = 'sick_since'") != [],
                "the outage to be noticed")
    mark = coordinator.mark()
    await emu.start()
    told = await coordinator.wait_for("was not working normally", after=mark, timeout=30)
    assert told.text is not None
    assert "for 10 min" in told.text and "Alerts raised in that time: 0" in told.text


async def test_an_outage_while_the_bot_was_down_is_told_after_the_restart(
        world: World) -> None:
    clock = ManualClock()
    await world.start(clock, sick_after_seconds=60)
    coordinator = await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await world.drain()
    world.emu.faults = Faults(rate=1.0, kinds=("500",))
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await until(lambda: rows(world.db, "SELECT id FROM alerts") != [], "the alert")
    await world.stop()  # the server went down with the pages unsent
    clock.advance(600)
    world.emu.faults = None
    mark = coordinator.mark()
    world.watch_every = 0.5  # the pages go before the first round: the start must look
    await world.start(clock)
    told = await coordinator.wait_for("was not working normally", after=mark, timeout=30)
    assert told.text is not None and "Alerts raised in that time: 1" in told.text


async def test_json_logs_carry_alert_and_event_and_no_personal_data(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    await world.stop()
    proc = BotProcess(world, QORGAU_LOG_FORMAT="json")
    proc.start()
    try:
        reporter = world.emu.user(first_name="Zhanar")
        await reporter.send_location(43.2567, 76.9286)
        msg = await reporter.wait_for("received and saved", timeout=30)
        assert msg.text is not None
        alert_id = int(msg.text.split("#")[1].split()[0])
        await reporter.send_text("Detained near the akimat by six officers")
        await reporter.wait_for("Added to alert", timeout=30)
    finally:
        await proc.stop()
    text = proc.log.read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    tagged = [e for e in entries if e.get("alert") == alert_id]
    assert tagged and all(isinstance(e.get("event"), str) for e in tagged)
    for secret in ("43.256", "76.928", "Zhanar", "akimat", "Marat", world.emu.token):
        assert secret not in text, secret


async def test_healthcheck_command_asks_the_running_bot(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.stop()
    port = free_port()
    proc = BotProcess(world, QORGAU_HTTP_PORT=str(port))
    proc.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    env.update(QORGAU_HTTP_PORT=str(port), PYTHONPATH=str(REPO))

    async def healthcheck() -> tuple[int, str]:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "healthcheck", env=env, cwd=world.tmp,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await child.communicate()
        assert child.returncode is not None
        return child.returncode, out.decode()

    try:
        results: list[tuple[int, str]] = []

        async def healthy() -> bool:
            results.append(await healthcheck())
            return results[-1][0] == 0

        await until_async(healthy, "qorgau healthcheck to pass", within=60)
        assert results[-1][1].strip() == "healthy"
    finally:
        await proc.stop()
    code, out = await healthcheck()
    assert code == 1 and "no answer" in out and len(out.strip().splitlines()) == 1
    env["QORGAU_HTTP_PORT"] = "http"  # a broken setting is unhealthy too, never exit 2
    code, out = await healthcheck()
    assert code == 1 and "QORGAU_HTTP_PORT" in out


async def test_every_bot_api_call_goes_through_the_proxy(world: World) -> None:
    # The Bot API's host cannot even be resolved: only the proxy (here the emulator itself,
    # which serves absolute-form proxy requests) can carry the calls.
    await world.start(telegram_api_url="http://api.telegram.invalid",
                      proxy_url=world.emu.api_url)
    await world.register_coordinator()


async def run_cli(tmp: Path, *args: str, **env: str) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    full.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", **env)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLI, *args, env=full, cwd=tmp,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode is not None
    return child.returncode, out.decode()


async def test_plain_http_webhook_and_a_port_in_use_stop_in_one_line(world: World,
                                                                     tmp_path: Path) -> None:
    base = {"QORGAU_BOT_TOKEN": world.emu.token,
            "QORGAU_TELEGRAM_API_URL": world.emu.api_url,
            "QORGAU_DATABASE": str(tmp_path / "q.db"), "QORGAU_DATA_KEY": TEST_KEY}
    code, out = await run_cli(tmp_path, "run", QORGAU_WEBHOOK_URL="http://bot.example.org/t",
                              **base)
    assert code == 2 and out.count("\n") == 1 and "QORGAU_WEBHOOK_URL" in out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = await run_cli(tmp_path, "run", QORGAU_HTTP_PORT=str(port), **base)
    assert code == 2 and out.count("\n") == 1 and f"127.0.0.1:{port}" in out, out


async def test_a_refusing_proxy_is_retried_not_fatal(world: World, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: the proxy refuses every connection
    proc = BotProcess(world, QORGAU_PROXY_URL=f"socks5://127.0.0.1:{port}")
    proc.start()
    try:
        await until(lambda: proc.log.exists() and "retrying" in proc.log.read_text(),
                    "a retry", within=60)
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        await proc.stop()
    assert proc.proc.returncode == 0
    assert "Traceback" not in proc.log.read_text()


def test_webhook_proxy_and_log_settings_are_checked() -> None:
    import pytest

    from bot.settings import SettingsError, load_settings

    bad = {"webhook_url": ["http://bot.example.org/t", "https://bot.example.org:8080/t",
                           "https:///t", "https://bot.example.org/t?x=1"],
           "webhook_secret": ["has space", "x" * 257, "ünicode"],
           "proxy_url": ["ftp://proxy:21", "socks5://", "http://proxy:99999"],
           "log_format": ["xml"], "http_port": ["0", "65536"], "sick_after_seconds": ["inf"]}
    for field, values in bad.items():
        for value in values:
            with pytest.raises(SettingsError, match=f"QORGAU_{field.upper()}"):
                load_settings(_env_file=None, **{field: value})
    good = load_settings(_env_file=None, webhook_url="https://bot.example.org:8443/t",
                         webhook_secret="a-Z_9", proxy_url="socks5h://u:p@proxy:1080",
                         log_format="JSON")
    assert good.listen_port == 8080 and good.log_format == "json"
    assert load_settings(_env_file=None).listen_port is None


def test_api_health_counts_refusals_apart_from_failures() -> None:
    from bot.delivery.botapi import ApiHealth

    clock = ManualClock()
    api = ApiHealth(clock.now)
    api.answered(200)
    api.answered(403)  # one person blocked the bot: Telegram still answers
    assert api.reachable and api.errors["403"] == 1
    clock.advance(5)
    api.answered(502)
    api.unanswered("network")
    assert not api.reachable and api.down_since == clock.now()
    api.answered(200)
    assert api.reachable and api.last_ok_at == clock.now()
    api.answered(401)  # the token was revoked: answered, but the bot can do nothing
    assert not api.reachable
    assert dict(api.errors) == {"403": 1, "502": 1, "network": 1, "401": 1} and api.calls == 6
