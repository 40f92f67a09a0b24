"""``qorgau playground`` in a real browser: Debian's chromium driven by playwright plays the
whole loop by clicking, as a visitor would. The bot, the emulator and the page are the real
ones (``demo.playground.serve``); nothing is mocked.

The browser is the system's (/usr/bin/chromium, installed by .ci/run from Debian's
packages); playwright never downloads one. The run takes a screenshot of the page at the
end; with UPDATE_SCREENSHOT=1 it replaces docs/playground.png, the one the README shows.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from demo.playground import SETUP
from emulator import Emulator, Limits
from emulator.playground import Playground

CHROMIUM = os.environ.get("QORGAU_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "playground.png"
WAIT_MS = 30_000  # one step of the loop, under real flood limits

playwright_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def playground() -> Iterator[str]:
    """``qorgau playground`` itself, in its own process, on a free port."""
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM}: .ci/run installs Debian's chromium")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bot.cli import main; "
         f"sys.exit(main(['playground', '--port', '{port}']))"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # never hang the suite
        assert ready, "qorgau playground printed nothing within 60 s"
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first, first
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out


def test_a_reporter_is_helped_by_clicking_through_the_page(playground: str,
                                                          tmp_path: Path) -> None:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.goto(playground)
            page.get_by_role("button", name=SETUP).click()
            marat = page.locator('section[data-phone="Marat"]')
            marat.get_by_text("You are on call").wait_for()

            aida = page.locator('section[data-phone="Aida"]')
            aida.get_by_label("message to Aida").fill("/start")
            aida.get_by_role("button", name="Send", exact=True).click()
            aida.get_by_role("button", name="I agree").click()
            aida.get_by_text("What name should lawyers see?").wait_for()
            aida.get_by_label("message to Aida").fill("Aida")
            aida.get_by_role("button", name="Send", exact=True).click()
            aida.get_by_role("button", name="Almaty", exact=True).click()
            aida.get_by_role("button", name="No, region only").click()
            aida.get_by_role("button", name="Turn discreet mode off").click()
            aida.get_by_text("Discreet mode is off").wait_for()

            # The reply keyboard's location button shares the point chosen on her map.
            where = aida.locator(".where svg.map")
            box = where.bounding_box()
            assert box is not None
            # the page draws longitude 46..88 over its width, latitude 56..40 down its height
            where.click(position={"x": box["width"] * (76.93 - 46) / 42,
                                  "y": box["height"] * (56 - 43.25) / 16})
            assert aida.get_by_label("latitude").input_value().startswith("43.")
            aida.locator(".keyboard").get_by_role("button", name="📍 SOS").click()
            aida.get_by_text("received and saved").wait_for()

            marat.get_by_role("button", name="Claim the case #1").click()
            aida.get_by_text("Marat").first.wait_for()
            assert "Marat" in aida.locator(".chat").inner_text()
            group = page.locator('section[data-phone="Press Freedom KZ"]')
            group.get_by_text("a lawyer has taken the case").wait_for()
            # A second click on the setup changes nothing: it was done once.
            before = page.locator('section[data-phone="Dana"] .msg').count()
            page.get_by_role("button", name=SETUP).click()
            page.wait_for_timeout(800)  # one more refresh so the picture is whole
            assert page.locator('section[data-phone="Dana"] .msg').count() == before
            shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "p.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


async def test_the_page_refuses_bad_actions_calmly() -> None:
    """Unknown phones, bad coordinates and forged buttons get a 4xx with a reason, and the
    page's server stays up for the next action."""
    emu = Emulator(limits=Limits())
    play = Playground(emu)
    aida = play.add_person("Aida", "reporter")
    async with emu, aiohttp.ClientSession() as http:
        url = f"{emu.api_url}/playground/act"
        for body, status in (
            ({"action": "text", "chat": 1, "text": "hi"}, 404),
            ({"action": "location", "chat": aida.id, "lat": 95, "lon": 10}, 400),
            ({"action": "press", "chat": aida.id, "message_id": 9, "label": "Claim"}, 400),
            ({"action": "text", "chat": aida.id, "text": "  "}, 400),
            ({"action": "nonsense", "chat": aida.id, "lat": 1, "lon": 1}, 400),
            ([1, 2], 400),
        ):
            async with http.post(url, json=body) as resp:
                assert resp.status == status, (body, await resp.text())
        form = {"action": "text", "chat": str(aida.id), "text": "from another site"}
        async with http.post(url, data=form) as resp:  # a cross-site form post
            assert resp.status == 415
        async with http.post(url, json={"action": "text", "chat": aida.id, "text": "hi"}) as r:
            assert r.status == 200
        assert aida.chat.messages[1]["text"] == "hi"
        async with http.get(f"{emu.api_url}/") as resp:  # the page itself, no build step
            page = await resp.text()
            assert resp.status == 200 and "<script>" in page and "http" not in page.replace(
                "http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere
        async with http.get(f"{emu.api_url}/playground/state") as resp:
            state = await resp.json()
        assert [p["title"] for p in state["phones"]] == ["Aida"]
        assert state["phones"][0]["messages"][0]["mine"] is True
    await play.stop()


async def test_a_shared_live_location_moves() -> None:
    """"Share live location" sends a live location and then edits it to new places."""
    import emulator.playground as pg

    emu = Emulator(limits=None)
    play = Playground(emu)
    aida = play.add_person("Aida", "reporter")
    step, pg.LIVE_STEP_SECONDS = pg.LIVE_STEP_SECONDS, 0.01
    try:
        async with emu:
            await play.act({"action": "live", "chat": aida.id, "lat": 43.25, "lon": 76.93})
            for _ in range(200):
                await asyncio.sleep(0.01)
                if len([u for u in emu.world.updates if "edited_message" in u]) >= 2:
                    break
            edits = [u["edited_message"] for u in emu.world.updates if "edited_message" in u]
            assert len(edits) >= 2
            assert edits[1]["location"]["latitude"] > edits[0]["location"]["latitude"] > 43.25
            await play.act({"action": "stop_live", "chat": aida.id, "lat": 0, "lon": 0})
            assert play.phones[0].live is None
    finally:
        pg.LIVE_STEP_SECONDS = step
        await play.stop()


def test_a_taken_port_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
        run = subprocess.run(
            [sys.executable, "-c", "import sys; from bot.cli import main; "
             f"sys.exit(main(['playground', '--port', '{port}']))"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"qorgau playground: cannot listen on 127.0.0.1:{port}: Address already in use"], \
        run.stderr
