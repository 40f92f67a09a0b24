"""The coordinators' live board: one pinned message in a coordinators' group, kept current.

Why this shape: a board must survive restarts and bursts without spending the group's 20
messages a minute. Its message is an outbox row (``boards.message_row``), so after a
restart the same Telegram message is edited. Any step that writes an alert event (or
changes who is on call) makes the board due for a redraw: a ``board`` timer row at the
earliest ``board_edit_seconds`` after the last drawing, so a burst of alerts gives one
edit per interval, not one per alert; the edit goes through the outbox, where a newer edit
supersedes a queued older one, and an edit that changes nothing is not sent. Telegram
answers an edit of a deleted board "message to edit not found": a new one is posted and
pinned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.domain import notify
from bot.domain.casework import held_counts
from bot.domain.coordination import pager
from bot.domain.messages import PIN, PRIORITY_GROUP, Button, Outgoing
from bot.domain.notify import duration, quoted
from bot.domain.regions import region_name
from bot.domain.services import Services
from bot.i18n import lang_of, t, tn
from storage import Alert, OutboxRow, Person, Tx

log = logging.getLogger(__name__)

TIMER = "board"  # timer kind; subject: the group's chat id
KIND = "board"  # outbox kind of the board message and of its edits
PAGE_LINES = 20  # alert and lawyer lines per page: a page always fits one message
REFRESH = 60.0  # while an alert waits, its waiting time is redrawn this often
LOST = ("message to edit not found", "message can't be edited", "message to pin not found")


def _holder(alert: Alert) -> int | None:
    return alert.claimed_by or alert.acknowledged_by


def render(lang: str, alerts: list[Alert], people: dict[int, Person], on_call: list[Person],
           now: float, page: int, chat_id: int) -> tuple[Outgoing, int]:
    """The board's text and buttons for one page: counts by state on every page, then the
    unacknowledged alerts (oldest first, with how long each has waited), the acknowledged
    and held ones with their lawyer, and the lawyers on call with how many cases each
    holds. Lines go on further pages, never cut. Returns the page shown with the board (a
    page past the end shows the last)."""
    by_state = {s: [a for a in alerts if a.state == s]
                for s in ("open", "acknowledged", "claimed")}
    for group in by_state.values():
        group.sort(key=lambda a: a.created_at)
    head = [t(lang, "📋 Live board"),
            t(lang, "🔴 Waiting: {w} · 🟡 Acknowledged: {a} · 🟢 Held: {h}",
              w=len(by_state["open"]), a=len(by_state["acknowledged"]),
              h=len(by_state["claimed"]))]
    items: list[tuple[str, Alert | None]] = []

    def name_of(user_id: int | None) -> str:
        person = people.get(user_id or 0)
        return quoted(person.name) if person else "—"

    for a in by_state["open"]:
        items.append((t(lang, "🔴 #{id} · {region} · waiting {waited}", id=a.id,
                        region=t(lang, region_name(a.region)),
                        waited=duration(lang, now - a.created_at)), a))
    for a in by_state["acknowledged"]:
        items.append((t(lang, "🟡 #{id} · {region} · seen by {name}, not yet claimed", id=a.id,
                        region=t(lang, region_name(a.region)), name=name_of(_holder(a))), a))
    for a in by_state["claimed"]:
        items.append((t(lang, "🟢 #{id} · {region} · held by {name}", id=a.id,
                        region=t(lang, region_name(a.region)), name=name_of(a.claimed_by)), a))
    held = held_counts(alerts)
    items.append((t(lang, "On call now: {n}", n=len(on_call)), None))
    for p in sorted(on_call, key=lambda p: (held.get(p.user_id, 0), p.name)):
        items.append(("• " + tn(lang, "{name}: {n} open case", "{name}: {n} open cases",
                                held.get(p.user_id, 0), name=quoted(p.name)), None))
    pages = max(1, -(-len(items) // PAGE_LINES))
    page = min(max(0, page), pages - 1)
    shown = items[page * PAGE_LINES:(page + 1) * PAGE_LINES]
    lines = [*head, "", *(text for text, _ in shown)]
    buttons: list[tuple[Button, ...]] = []
    for _, shown_alert in shown:
        if shown_alert is None:
            continue
        n = shown_alert.id
        row = [Button(t(lang, "🔎 #{id}", id=n), f"bd:case:{n}")]
        if shown_alert.state != "claimed":
            row.append(Button(t(lang, "Assign #{id}", id=n), f"assign:{n}"))
        buttons.append(tuple(row))
    if pages > 1:
        line, nav = pager(lang, page, pages, f"bd:pg:{chat_id}")
        lines.append(line)
        buttons.append(nav)
    return Outgoing(text="\n".join(lines), buttons=tuple(buttons)), page


class Boards:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        svc.on_step(self.changed)

    async def set_board(self, user_id: int, chat_id: int, in_group: bool) -> str | None:
        """/board in a coordinators' group: post the board there and pin it; a second
        /board in the same group posts a fresh one (the old one is no longer kept)."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can set up the live board.")
            if not in_group:
                return t(lang, "Send /board inside the coordinators' group: the board lives "
                               "there, pinned.")
            if await tx.group_language(chat_id) is not None:  # a press-freedom group
                return t(lang, "This group gets alert notices. The board names lawyers, so it "
                               "goes only in the coordinators' own group: send /board there.")
            old = await tx.board(chat_id)
            if old is not None and old.message_row is not None:  # it would go stale unseen
                await notify.edit(tx, old.message_row, Outgoing(t(
                    lang, "📋 This board is no longer kept current: see the newest pinned "
                          "board.")), self.svc.now(), kind=KIND, priority=PRIORITY_GROUP)
            await self._post(tx, chat_id, user_id, lang)
            return None

    async def _post(self, tx: Tx, chat_id: int, set_by: int, lang: str) -> None:
        now = self.svc.now()
        out, _ = await self._draw(tx, chat_id, lang, 0)
        row = await tx.enqueue(chat_id, KIND, PRIORITY_GROUP, out.to_json(), now)
        await tx.enqueue(chat_id, PIN, PRIORITY_GROUP, "{}", now, target_id=row)
        await tx.set_board(chat_id, set_by, row, now)
        await self._refresh_later(tx, chat_id, now)

    async def _draw(self, tx: Tx, chat_id: int, lang: str,
                    page: int) -> tuple[Outgoing, int]:
        alerts = await tx.open_alerts()
        staff = {p.user_id: p for p in await tx.staff()}
        on_call = [p for p in staff.values() if p.is_lawyer and p.on_call]
        return render(lang, alerts, staff, on_call, self.svc.now(), page, chat_id)

    async def changed(self, tx: Tx) -> None:
        """Something a board shows may have changed in this step: each board is due for a
        redraw as soon as its interval allows (an earlier due redraw stays)."""
        now = self.svc.now()
        for board in await tx.boards():
            due = max(now, board.drawn_at + self.svc.settings.board_edit_seconds)
            timer = await tx.timer(TIMER, board.chat_id)
            if timer is None or timer.due_at > due:
                await tx.set_timer(TIMER, board.chat_id, due)

    async def _refresh_later(self, tx: Tx, chat_id: int, now: float) -> None:
        """While an alert waits, its waiting time on the board is kept current."""
        if any(a.state == "open" for a in await tx.open_alerts()):
            timer = await tx.timer(TIMER, chat_id)
            if timer is None or timer.due_at > now + REFRESH:
                await tx.set_timer(TIMER, chat_id, now + REFRESH)

    async def redraw(self, chat_id: int) -> None:
        """The board's timer: draw it and edit the message if its text changed."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(TIMER, chat_id, now):
                return
            board = await tx.board(chat_id)
            if board is None or board.message_row is None:
                return
            lang = lang_of(await tx.person(board.set_by))
            out, _ = await self._draw(tx, chat_id, lang, board.page)
            await tx.update_board(chat_id, drawn_at=now)
            await notify.edit(tx, board.message_row, out, now, kind=KIND,
                              priority=PRIORITY_GROUP)
            await self._refresh_later(tx, chat_id, now)

    async def gone(self, chat_id: int) -> None:
        """The bot left (or was removed from) the group: its board is no longer kept."""
        async with self.svc.step() as tx:
            await tx.drop_board(chat_id)
            await tx.clear_timer(TIMER, chat_id)

    async def page(self, user_id: int, chat_id: int, page: int) -> str | None:
        """A page button: only a coordinator turns the board's page."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            board = await tx.board(chat_id)
            if person is None or not person.is_coordinator or board is None:
                return t(lang, "Sorry, this button is not for you.")
            _, page = await self._draw(tx, chat_id, lang, page)  # past the end: the last
            await tx.update_board(chat_id, page=page)
            await self.changed(tx)
            return t(lang, "Page {page}", page=page + 1)

    async def detail(self, user_id: int, alert_id: int, case: str) -> str | None:
        """The board's 🔎 button: the alert's detail (``case``, as /case N reads it) goes to
        the coordinator's private chat, never into the group."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Sorry, this button is not for you.")
            if await tx.alert(alert_id) is None:
                return t(lang, "No alert #{id} that you can see.", id=alert_id)
            await notify.send(tx, user_id, Outgoing(case), self.svc.now())
            return t(lang, "Sent to our private chat.")

    async def lost(self, row: OutboxRow, reason: str) -> None:
        """An edit or pin of a board failed for good: if its message is gone (deleted in
        the group), a new board is posted and pinned."""
        if row.kind not in (KIND, PIN):
            return
        async with self.svc.step() as tx:
            board = await tx.board(row.chat_id)
            if board is None or board.message_row != row.target_id:
                return  # an older board's message: the current one is fine
            lang = lang_of(await tx.person(board.set_by))
            if row.kind == PIN and "rights" in reason.lower():
                await notify.send(tx, row.chat_id, Outgoing(t(
                    lang, "I could not pin the board: make me an administrator of this group "
                          "with the right to pin messages, then send /board again.")),
                    self.svc.now(), priority=PRIORITY_GROUP)
                return
            if not any(x in reason.lower() for x in LOST):
                return
            log.info("board message gone; posting a new one", extra={"event": "board_lost"})
            await self._post(tx, row.chat_id, board.set_by, lang)

    async def check_pins(self, pinned: Callable[[int], Awaitable[int | None]]) -> None:
        """At start: a board that was pinned but is no longer the group's pinned message
        (unpinned, or deleted, while the bot was down) is posted again and pinned.
        ``pinned`` asks Telegram for a group's pinned message id (getChat)."""
        async with self.svc.storage.read() as tx:
            shown = [(b, await tx.outbox_row(b.message_row)) for b in await tx.boards()
                     if b.message_row is not None and await tx.was_pinned(b.message_row)]
        for board, row in shown:
            if row is None or row.state != "sent" or row.message_id is None:
                continue
            try:
                top = await pinned(board.chat_id)
            except Exception as exc:  # Telegram out of reach: the next start looks again
                log.warning("could not read a board's pin (%s)", type(exc).__name__)
                continue
            if top == row.message_id:
                continue
            async with self.svc.step() as tx:
                current = await tx.board(board.chat_id)
                if current is not None and current.message_row == board.message_row:
                    log.info("board no longer pinned; posting a new one",
                             extra={"event": "board_unpinned"})
                    await self._post(tx, board.chat_id, board.set_by,
                                     lang_of(await tx.person(board.set_by)))
