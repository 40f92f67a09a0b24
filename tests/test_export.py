"""``qorgau export --since DATE``: the real command, beside the running bot, writes one CSV
row per alert with the documented columns, and nothing that names or places a person."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.export import COLUMNS
from tests.harness import ALMATY, ASTANA, World, claim, raise_alert
from tests.test_settings import qorgau


def export(db: Path, cwd: Path, since: str) -> list[dict[str, str]]:
    proc = qorgau(cwd, "export", "--since", since, QORGAU_DATABASE=str(db))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    reader = csv.DictReader(io.StringIO(proc.stdout))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


async def test_export_has_the_columns_and_no_personal_data(world: World, tmp_path: Path) -> None:
    await world.start()
    await world.register_coordinator("Dana Coordinatorova")
    lawyer = await world.register_lawyer("Marat Lawyerov", ("Almaty",))
    reporter, first = await raise_alert(world, "Aigerim Reporterova", ALMATY)
    await claim(lawyer, first)
    await lawyer.send_command("/close", f"{first} Released after questioning at night")
    choice = await lawyer.wait_for(f"How did case #{first} end?")
    await lawyer.press("released", message=choice)
    await reporter.wait_for("closed")
    other, second = await raise_alert(world, "Bek Secondov", ASTANA)
    await other.send_text("They took my phone at Abay street")
    await world.drain()

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    out = export(world.db, tmp_path, today)  # while the bot runs
    assert [r["alert"] for r in out] == [str(first), str(second)]
    closed, still_open = out
    assert closed["region"] == "almaty" and closed["state"] == "closed"
    assert closed["outcome"] == "released"
    assert int(closed["seconds_to_acknowledge"]) >= 0 and closed["seconds_to_claim"] != ""
    assert closed["raised_at"].startswith(today) and closed["closed_at"].endswith("Z")
    assert still_open["region"] == "astana" and still_open["state"] == "open"
    assert still_open["seconds_to_claim"] == "" and still_open["outcome"] == ""

    proc = qorgau(tmp_path, "export", "--since", today, QORGAU_DATABASE=str(world.db))
    text = proc.stdout
    people = [world.coordinator, lawyer, reporter, other]
    for secret in ("Dana", "Marat", "Aigerim", "Bek", "Released after", "Abay", "phone",
                   *(str(p.id) for p in people), *(f"{c:.4f}"[:6] for c in (*ALMATY, *ASTANA))):
        assert secret not in text, f"{secret!r} appears in the export"

    tomorrow = datetime.fromtimestamp(time.time() + 86400, UTC).strftime("%Y-%m-%d")
    assert export(world.db, tmp_path, tomorrow) == []


def test_export_refuses_a_bad_date_and_a_missing_database(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "export", "--since", "last week")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--since" in proc.stderr and "YYYY-MM-DD" in proc.stderr
    proc = qorgau(tmp_path, "export", "--since", "2026-01-01",
                  QORGAU_DATABASE=str(tmp_path / "none.db"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "QORGAU_DATABASE" in proc.stderr
    assert not (tmp_path / "none.db").exists(), "export must not create a database"
