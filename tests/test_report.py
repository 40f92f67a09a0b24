"""/report [days]: a PNG chart of alerts per day by outcome and of response times, and the
same figures as text; figures only, for coordinators only."""

from __future__ import annotations

import io
import time

import matplotlib.image

from bot.clock import ManualClock
from bot.domain.figures import Figures, chart, png, text
from storage import Alert
from tests.harness import ALMATY, World, card_for, raise_alert

DAY = 86400.0
T0 = 1_790_000_000.0  # a fixed moment, so local days are fixed too


def alert(n: int, at: float, outcome: str | None = None, ack: float | None = None,
          claim: float | None = None) -> Alert:
    return Alert(id=n, reporter_id=n, state="closed" if outcome else "open", region="almaty",
                 lat=None, lon=None, accuracy_m=None, located_at=None, created_at=at,
                 urgent=False, wave=1, acknowledged_by=None,
                 acknowledged_at=at + ack if ack else None, claimed_by=None,
                 claimed_at=at + claim if claim else None, last_update_at=None, safe_at=None,
                 closed_at=None, outcome=outcome)


def test_chart_is_a_png_with_one_bar_per_day_of_data() -> None:
    alerts = [alert(1, T0, "released", ack=60, claim=120),
              alert(2, T0 + 60, "fined", ack=180, claim=600),
              alert(3, T0 + 2 * DAY, None, ack=30),
              alert(4, T0 + 5 * DAY, "released", ack=600, claim=900)]
    figures = Figures.of(alerts)
    assert [len(c) for _, c in figures.days] == [2, 1, 1]  # three days with data
    fig = chart("en", figures, 7)
    top = fig.axes[0]
    assert len({round(p.get_x(), 6) for p in top.patches}) == 3  # one bar (stack) per day
    data = png(fig)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    words = text("en", figures, 7)
    assert words.splitlines()[:2] == ["Report for the last 7 days.", "Alerts raised: 4."]
    assert "Time to acknowledge: median 2.0 min, 90th percentile 10.0 min" in words
    assert "released 1" in words and "still open 1" in words


async def test_report_goes_to_coordinators_and_refuses_bad_days(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    _, first = await raise_alert(world, "Aida", ALMATY)
    await marat.press(f"Acknowledge #{first}", message=await card_for(marat, first))
    clock.advance(DAY)
    await raise_alert(world, "Bek", ALMATY)
    await world.drain()

    for bad in ("0", "100000", "abc"):
        mark = coordinator.mark()
        await coordinator.send_command("/report", bad)
        await coordinator.wait_for("Use /report or /report 30", after=mark)
    mark = marat.mark()
    await marat.send_command("/report")
    await marat.wait_for("Only coordinators can see reports.", after=mark)
    await world.drain()
    assert not world.emu.sent(method="sendPhoto")

    mark = coordinator.mark()
    await coordinator.send_command("/report", "7")
    summary = await coordinator.wait_for("Report for the last 7 days.\nAlerts raised: 2.",
                                         after=mark)
    photos = world.emu.sent(chat_id=coordinator.id, method="sendPhoto")
    assert len(photos) == 1 and photos[0].params["photo"]["size"] > 1000
    assert summary.text is not None and "Aida" not in summary.text and "Bek" not in summary.text
