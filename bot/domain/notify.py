"""Composing what people are told. Every message becomes an outbox row inside the caller's
transaction, so the change and the news of it commit together."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain import discreet
from bot.domain.messages import (
    ERASE,
    PRIORITY_ALERT,
    PRIORITY_CASE,
    PRIORITY_GROUP,
    PRIORITY_REPLY,
    Button,
    KeyButton,
    Outgoing,
    cut_utf16,
    split,
    utf16_len,
)
from bot.domain.regions import region_name
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, lang_of, t
from storage import Alert, OutboxRow, Person, Tx

if TYPE_CHECKING:
    from bot.domain.services import Services

# The time zone of every clock time shown or typed (QORGAU_TIMEZONE; Kazakhstan keeps one,
# UTC+5 since March 2024); set from the settings by ``set_zone`` when the services start.
_ZONE: tzinfo = ZoneInfo("Asia/Almaty")


def set_zone(name: str) -> None:
    global _ZONE
    _ZONE = ZoneInfo(name)


def local_time(ts: float) -> datetime:
    """A moment as a clock in the bot's time zone shows it."""
    return datetime.fromtimestamp(ts, tz=_ZONE)


LABEL_SOS = N_("📍 SOS: send my location")
LABEL_SOS_NO_LOCATION = N_("🆘 Alert without location")
LABEL_SAFE = N_("✅ I'm safe")
LABEL_ON = N_("🟢 Go on call")
LABEL_OFF = N_("⚪ Go off call")
LABEL_RAISE_NOW = N_("🆘 Raise an alert now")

MAP_DATA = "map"  # the callback data "map:N" of a card's "Show on map" button
RAISE_NOW_DATA = "sos"  # that button's callback data (the poller lets it skip the queue)


REPLY_BACKLOG = 3  # unsent answers kept per chat; set by flood.Flood from the settings
LIVE_STALE = 300.0  # seconds after which a position is marked stale; set by live.Live
SMS_PAGING = False  # whether a page also looks for SMS pages; set by sms.Sms from the settings


async def send(
    tx: Tx, chat_id: int, out: Outgoing, now: float, *, kind: str = "reply",
    priority: int = PRIORITY_REPLY, alert_id: int | None = None,
) -> int:
    """Queue a message; one too long for Telegram goes as several, whole and in order (the
    worker sends one chat's rows of a priority in the order they were written). Returns the
    first row's id."""
    if alert_id is not None and await silenced(tx, chat_id, alert_id):
        return 0
    if kind == "reply" and priority >= PRIORITY_REPLY:
        # Answers to someone flooding the bot are merged: only the latest few are kept.
        await tx.trim_pending_replies(chat_id, REPLY_BACKLOG - 1, PRIORITY_REPLY)
    first = 0
    for part in split(out):
        row = await tx.enqueue(chat_id, kind, priority, part.to_json(), now, alert_id=alert_id)
        first = first or row
    return first


async def silenced(tx: Tx, chat_id: int, alert_id: int) -> bool:
    """Nothing more about an alert cancelled with the duress PIN goes to its reporter's chat:
    whoever holds the phone saw a cancel, and any later news would give the alert away."""
    if chat_id <= 0:
        return False
    alert = await tx.alert(alert_id)
    return alert is not None and alert.concealed and alert.reporter_id == chat_id


def hidden(alert: Alert | None) -> Alert | None:
    """A reporter's open alert as their chat may show it: none after a duress cancel."""
    return None if alert is None or alert.concealed else alert


async def erase_theirs(tx: Tx, user_id: int, message_id: int | None, now: float) -> None:
    """Delete a message a person sent us (a typed PIN), through the outbox, first of all
    their chat's messages."""
    if message_id is not None:
        await tx.enqueue(user_id, ERASE, PRIORITY_ALERT, json.dumps({"message_id": message_id}),
                         now)


def nothing_open(person: Person) -> Outgoing:
    """The answer to "I'm safe" when nothing is open, or seems to be (after a duress
    cancel the two must read the same)."""
    return Outgoing(discreet.pick(person, t(person.language, "You have no open alert."),
                                  t(person.language, "Nothing is open right now.")),
                    keyboard=keyboard(person.language, person, alert_open=False))


# What ``tell`` says: an English template (marked N_) translated with its values, or, for a
# text that counts something, a function from the recipient's language to the text (a
# ``lambda lang: tn(lang, ...)``): the recipient's language is known only here.
Wording = str | Callable[[str], str]


async def tell(tx: Tx, person_id: int, template: Wording, now: float,
               alert_id: int | None = None, priority: int = PRIORITY_CASE,
               neutral: Wording | None = None, **values: object) -> None:
    """Queue ``template`` for a person, translated into their language; a discreet
    reporter gets ``neutral`` instead (given for every text that names a lawyer or a case)."""
    person = await tx.person(person_id)
    chosen = discreet.pick(person, template, neutral) if neutral is not None else template
    lang = lang_of(person)
    out = Outgoing(chosen(lang) if callable(chosen) else t(lang, chosen, **values))
    await send(tx, person_id, out, now, kind="case", priority=priority, alert_id=alert_id)


async def edit(tx: Tx, target_id: int, out: Outgoing, now: float, *, kind: str = "edit",
               priority: int = PRIORITY_CASE) -> None:
    """Change a message already queued or sent. A message not yet sent is rewritten in place
    (if it is in flight, the worker sends the difference as an edit when it lands); newer
    edits supersede older queued ones. A sent row's payload is what its message shows."""
    target = await tx.outbox_row(target_id)
    if target is None:
        return
    if target.state == "pending":
        await tx.set_payload(target_id, out.to_json())
        return
    if target.state == "sent":
        if out.to_json() == target.payload and not await tx.pending_edits(target_id):
            return  # the message already says exactly this: an edit would change nothing
        await tx.enqueue(
            target.chat_id, kind, priority, out.to_json(), now,
            alert_id=target.alert_id, target_id=target_id,
        )


def clock_time(ts: float) -> str:
    return local_time(ts).strftime("%H:%M")


def local_date(ts: float) -> str:
    """The day of ``ts`` in local time, as ``2026-11-27`` (a report's days)."""
    return local_time(ts).strftime("%Y-%m-%d")


def duration(lang: str, seconds: float) -> str:
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return t(lang, "{n} s", n=int(max(0.0, seconds)))
    if minutes < 120:
        return t(lang, "{n} min", n=minutes)
    return t(lang, "{n} h", n=minutes // 60)


def ago(lang: str, seconds: float) -> str:
    if seconds < 60:
        return t(lang, "just now")
    return t(lang, "{duration} ago", duration=duration(lang, seconds))


def local_stamp(ts: float) -> str:
    """A date and time in the bot's time zone (QORGAU_TIMEZONE), as people read them."""
    return local_time(ts).strftime("%Y-%m-%d %H:%M")


def utc_stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def sos_labels(lang: str, person: Person | None) -> tuple[str, str]:
    """The two SOS buttons' labels as this person sees them (plainer in discreet mode)."""
    return (t(lang, discreet.pick(person, LABEL_SOS, discreet.LABEL_SOS)),
            t(lang, discreet.pick(person, LABEL_SOS_NO_LOCATION, discreet.LABEL_SOS_NO_LOCATION)))


def is_label(lang: str, text: str, *labels: str) -> bool:
    """Whether a typed text is one of these keyboard labels (in either wording and any of
    our languages: a keyboard sent before /discreet or /language keeps working)."""
    return text.strip() in {t(each, label) for each in LANGUAGES for label in labels}


def keyboard(lang: str, person: Person | None, alert_open: bool
             ) -> tuple[tuple[KeyButton, ...], ...]:
    """Everyone's keyboard: the one-tap SOS first (a lawyer can be detained too), "I'm
    safe" while their alert is open. For lawyers and coordinators their own two SOS buttons
    share the top row and a lawyer's on/off-call switch is the last row on its own, so a
    hurried tap meant for one cannot raise or silence the other."""
    sos_label, without_label = sos_labels(lang, person)
    sos = KeyButton(sos_label, request_location=True)
    without = KeyButton(without_label)
    staff = person is not None and person.registered and person.role in ("lawyer",
                                                                         "coordinator")
    rows: list[tuple[KeyButton, ...]] = [(sos, without)] if staff else [(sos,), (without,)]
    if alert_open:
        rows.append((KeyButton(t(lang, LABEL_SAFE)),))
    if person is not None and person.is_lawyer:
        rows.append((KeyButton(t(lang, LABEL_OFF if person.on_call else LABEL_ON)),))
    return tuple(rows)


# --- what people wrote, shown so that it cannot pass for the bot's own lines -----------

QUOTE = "│ "
# Line and paragraph breaks and control characters become spaces in a one-line text;
# format characters (bidirectional overrides and isolates, U+200E/F, U+061C, zero-width
# ones) go: they could reorder what is shown around them.
_BREAKS = {"Cc", "Zl", "Zp"}


def one_line(text: str) -> str:
    """A name (or any short text) as one plain line: no breaks, no control or
    bidirectional characters, runs of spaces as one."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _BREAKS:
            kept.append(" ")
        elif not category.startswith("C"):
            kept.append(ch)
    return " ".join("".join(kept).split())


def quoted(name: str) -> str:
    """A name as it appears after a label: one line, in quotes."""
    return f"“{one_line(name)}”"


def quote_lines(text: str) -> str:
    """Free text as a block whose every line starts with "│ ": whatever it says, it cannot
    pose as a line of the card or message around it."""
    return "\n".join(QUOTE + line for line in (text.splitlines() or [""]))


def fact_line(text: str) -> str:
    """A text after a bullet: its first line as is, every further line quoted."""
    lines = text.splitlines() or [""]
    return "\n".join([lines[0], *(QUOTE + line for line in lines[1:])])


def cut_units(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-16 code units (Telegram's measure), "…" if cut."""
    return text if utf16_len(text) <= limit else cut_utf16(text, limit - 1) + "…"


def reporter_name(lang: str, reporter: Person | None) -> str:
    """The name the reporter chose; never their Telegram id, which would identify them."""
    if reporter is None or not reporter.display_name or not reporter.registered:
        return t(lang, "an unregistered reporter")
    return quoted(reporter.display_name)


def state_words(lang: str, alert: Alert, person: Person | None = None) -> str:
    """The alert's state in words; for a discreet reporter (``person``) in plain ones."""
    if discreet.is_discreet(person):
        return {
            "open": t(lang, "waiting for someone"),
            "closed": t(lang, "done"),
        }.get(alert.state) or t(lang, "someone is on it")
    return {
        "open": t(lang, "waiting for a lawyer"),
        "acknowledged": t(lang, "a lawyer has seen it and is acting"),
        "claimed": t(lang, "a lawyer has taken the case"),
        "closed": t(lang, "closed"),
    }[alert.state]


def alert_card(lang: str, alert: Alert, reporter: Person | None, now: float,
               known: list[str], wave: int | None = None, lawyer: bool = True) -> Outgoing:
    """A lawyer's notification: who, where, since when, what is known, and the buttons
    ("Can't take it" only for lawyers: coordinators assign instead)."""
    lines = []
    if alert.concealed and alert.duress_at is not None:
        lines.append(t(lang, "‼️ DURESS: at {time} the reporter entered their duress PIN. Their "
                             "chat shows a normal cancel and hears nothing more about this "
                             "alert; it stays open.", time=clock_time(alert.duress_at)))
    elif alert.duress_at is not None:
        lines.append(t(lang, "‼️ DURESS: at {time} the reporter entered their duress PIN; they "
                             "have pressed SOS again since.", time=clock_time(alert.duress_at)))
    if wave and wave > 1:
        lines.append(t(lang, "⏰ Still unanswered after {waited}: wave {wave}.",
                       waited=duration(lang, now - alert.created_at), wave=wave))
    if alert.urgent:
        lines.append(t(lang, "‼️ URGENT: nobody is on call."))
    title = t(lang, "🚨 Alert #{id} · {region}", id=alert.id,
              region=t(lang, region_name(alert.region)))
    who = t(lang, "Reporter: {name}", name=reporter_name(lang, reporter))
    lines += [title, who]
    lines.append(t(lang, "Raised at {time} ({ago})", time=clock_time(alert.created_at),
                   ago=ago(lang, now - alert.created_at)))
    if alert.missed_checkin_at is not None:
        lines.append(missed_checkin_line(lang, alert, now))
    if alert.has_location:
        taken = alert.located_at or alert.created_at
        where = (t(lang, "Location: shared, ±{m} m, taken {ago}", m=f"{alert.accuracy_m:.0f}",
                   ago=ago(lang, now - taken)) if alert.accuracy_m else
                 t(lang, "Location: shared, taken {ago}", ago=ago(lang, now - taken)))
        lines.append(where + stale_mark(lang, now - taken))
        coordinates = t(lang, "Position: {lat:.5f}, {lon:.5f}", lat=alert.lat, lon=alert.lon)
        lines.append(coordinates)
        position = coordinates + stale_mark(lang, now - taken)
    else:
        position = t(lang, "Location: not shared")
        lines.append(position)
    if known:
        lines.append(t(lang, "Known so far:"))
        lines.extend(f"• {k}" for k in known[-5:])  # each from known_facts: lines quoted
    if alert.safe_at is not None and alert.is_open:
        lines.append(t(lang, "✅ The reporter said \"I'm safe\" at {time}; not yet confirmed by "
                             "a person (it may have been forced).", time=clock_time(alert.safe_at)))
    state = t(lang, "State: {state}", state=state_words(lang, alert))
    lines.append(state)
    buttons: tuple[tuple[Button, ...], ...] = ()
    decline = ((Button(t(lang, "Can't take it #{id}", id=alert.id), f"decl:{alert.id}"),),
               ) if lawyer else ()
    # The position is in the text; the pin itself goes only to whoever asks for it.
    on_map = ((Button(t(lang, "Show on map #{id}", id=alert.id), f"{MAP_DATA}:{alert.id}"),),
              ) if alert.has_location and alert.is_open else ()
    if alert.state == "open":
        buttons = ((Button(t(lang, "Acknowledge #{id}", id=alert.id), f"ack:{alert.id}"),
                    Button(t(lang, "Claim the case #{id}", id=alert.id), f"claim:{alert.id}")),
                   *decline, *on_map)
    elif alert.state == "acknowledged":
        buttons = ((Button(t(lang, "Claim the case #{id}", id=alert.id), f"claim:{alert.id}"),),
                   *decline, *on_map)
    elif alert.state == "claimed":
        buttons = on_map
    # In a bundle of many (a burst), the card's essentials: about 100 characters (at most
    # about 260), so that 25 fit one message, and only its Acknowledge and Claim buttons,
    # so that 25 stay far under the 100 buttons Telegram takes in a message (the bundle's
    # header names /case N and /decline N for the rest; the position is in the text).
    # Marks start with "‼️" (messages.URGENT_MARK): a bundle cuts them last.
    marks = []
    if alert.concealed and alert.duress_at is not None:
        marks.append(t(lang, "‼️ DURESS PIN at {time}: their chat shows a normal cancel",
                       time=clock_time(alert.duress_at)))
    elif alert.duress_at is not None:
        marks.append(t(lang, "‼️ DURESS PIN entered at {time}", time=clock_time(alert.duress_at)))
    if alert.missed_checkin_at is not None:
        marks.append(t(lang, "‼️ Raised by itself: a missed check-in"))
    if alert.urgent:
        marks.append(t(lang, "‼️ URGENT: nobody is on call."))
    if wave and wave > 1:
        marks.append(t(lang, "⏰ Wave {wave}: still unanswered", wave=wave))
    safe = [t(lang, "✅ Said \"I'm safe\" at {time}, not confirmed",
              time=clock_time(alert.safe_at))] if alert.safe_at is not None and alert.is_open \
        else []
    brief = "\n".join([title, *marks, who, position, *safe, state])
    return Outgoing(text="\n".join(lines), buttons=buttons, brief=brief,
                    brief_buttons=tuple(row for row in buttons
                                        if row not in decline and row not in on_map))


def stale_mark(lang: str, age: float) -> str:
    """" ⚠️ stale" after a position older than ``LIVE_STALE``: the lawyer must not go to
    where the reporter was long ago believing they are still there."""
    return " " + t(lang, "⚠️ stale") if age > LIVE_STALE else ""


def missed_checkin_line(lang: str, alert: Alert, now: float) -> str:
    """Why an alert nobody tapped exists: its reporter missed a check-in."""
    assert alert.missed_checkin_at is not None
    head = t(lang, "⏱ Raised by itself: the reporter missed a check-in due at {time}.",
             time=clock_time(alert.missed_checkin_at))
    if not alert.has_location:
        return head + " " + t(lang, "No location was shared.")
    return head + " " + t(lang, "Last location shared {ago}.", ago=ago(
        lang, now - (alert.located_at or alert.created_at)))


async def keep_live_pin(tx: Tx, alert: Alert, now: float) -> None:
    """While the reporter shares a live location, whoever holds (or acknowledged) the
    alert has one location message the bot moves with it (editMessageLiveLocation), not a
    new pin per update. It stops where it is when the share ends, the alert closes, or the
    alert changes hands (the new holder gets their own)."""
    share = await tx.live_share(alert.reporter_id)
    sharing = alert.is_open and share is not None and share.state != "ended"
    holder = (alert.claimed_by or alert.acknowledged_by) if sharing else None
    mine = None
    for row in await tx.sent_rows(alert.id, kind="live"):
        shown = Outgoing.from_json(row.payload)
        if not shown.live:
            continue  # stopped: never touched again
        if row.chat_id == holder:
            mine = row
        else:
            await edit(tx, row.id, Outgoing(location=shown.location), now)
    if holder is None or alert.lat is None or alert.lon is None:
        return
    where = Outgoing(location=(alert.lat, alert.lon), live=True)
    if mine is not None:
        return await edit(tx, mine.id, where, now)
    lang = lang_of(await tx.person(holder))
    await send(tx, holder, Outgoing(t(
        lang, "Alert #{id}: the reporter's live location, kept current below.", id=alert.id)),
        now, kind="case", priority=PRIORITY_CASE, alert_id=alert.id)
    await send(tx, holder, where, now, kind="live", priority=PRIORITY_CASE, alert_id=alert.id)


def pin(lang: str, alert: Alert, now: float) -> Outgoing | None:
    if not alert.has_location:
        return None
    assert alert.lat is not None and alert.lon is not None
    return Outgoing(
        text=t(lang, "Alert #{id}: position taken {ago}", id=alert.id,
               ago=ago(lang, now - (alert.located_at or alert.created_at))),
        location=(alert.lat, alert.lon),
    )


def group_notice(alert: Alert, reporter: Person | None, lang: str = DEFAULT_LANGUAGE
                 ) -> Outgoing:
    """What a press-freedom group sees, in its language; the exact spot only with the
    reporter's consent."""
    lines = [
        t(lang, "🚨 Alert #{id} · {region}", id=alert.id,
          region=t(lang, region_name(alert.region))),
        t(lang, "Raised at {time}", time=clock_time(alert.created_at)),
        t(lang, "State: {state}", state=state_words(lang, alert)),
    ]
    if alert.has_location and reporter is not None and reporter.share_location:
        lines.append(t(lang, "Location: {lat:.5f}, {lon:.5f}", lat=alert.lat, lon=alert.lon))
    if alert.outcome:
        lines.append(t(lang, "Outcome: {outcome}", outcome=t(lang, alert.outcome)))
    return Outgoing(text="\n".join(lines))


async def page(tx: Tx, alert: Alert, recipients: Iterable[Person], now: float, wave: int,
               known: list[str], reporter: Person | None = None) -> None:
    """Queue an alert's card for each person. The card carries the position as text and
    a "Show on map" button: the location pin itself goes only to whoever acknowledges,
    claims or asks (a pin per lawyer per alert filled Telegram's overall limit in a mass
    detention). One card per language, one insert for all: this is the hot path of an
    alert. Never to the alert's own reporter, whatever the routing said: a person in danger
    is not their own responder."""
    people = [p for p in recipients if p.user_id != alert.reporter_id]
    reporter = reporter or await tx.person(alert.reporter_id)
    # A registered reporter's first page goes first (bot/delivery/order.py); an escalation
    # wave, or the alert of someone unregistered, after every such page.
    first = wave == 1 and reporter is not None and reporter.registered
    priority = PRIORITY_ALERT if first else PRIORITY_REPLY
    await tx.add_recipients(alert.id, [p.user_id for p in people], wave, now)
    cards: dict[tuple[str, bool], str] = {}
    messages: list[tuple[int, str, int, str]] = []
    for person in people:
        lang, key = person.language, (person.language, person.role == "lawyer")
        if key not in cards:
            cards[key] = alert_card(lang, alert, reporter, now, known, wave=wave,
                                    lawyer=key[1]).to_json()
        messages.append((person.user_id, "alert", priority, cards[key]))
    await tx.enqueue_many(messages, now, alert.id)
    if SMS_PAGING and people:  # who of them gets it by SMS too: sms.Sms.page_due decides
        await tx.set_timer("sms_page", alert.id, now)


async def send_pin(tx: Tx, person: Person, alert: Alert, now: float,
                   priority: int = PRIORITY_CASE) -> None:
    """The alert's location pin to one lawyer or coordinator (nothing without a location)."""
    where = pin(person.language, alert, now)
    if where is not None:
        await send(tx, person.user_id, where, now, kind="pin", priority=priority,
                   alert_id=alert.id)


async def post_group_notices(tx: Tx, alert: Alert, now: float,
                             reporter: Person | None = None) -> None:
    reporter = reporter or await tx.person(alert.reporter_id)
    notices: dict[str, str] = {}
    messages = []
    for chat_id, lang in (await tx.group_languages()).items():
        if lang not in notices:
            notices[lang] = group_notice(alert, reporter, lang).to_json()
        messages.append((chat_id, "group", PRIORITY_GROUP, notices[lang]))
    await tx.enqueue_many(messages, now, alert.id)


GROUP_CLOSED = N_("Notice #{id}: closed.")  # a group notice's last words: no place, no details


async def close_group_notices(tx: Tx, rows: Iterable[OutboxRow], now: float,
                              language: str | None = None) -> None:
    """Edit group notices (taken with ``tx.retire_rows``, so nothing edits them again) to
    a closing line without the location, in the group's language (``language`` for a
    group just disconnected): after their case closed, or the group was disconnected."""
    languages = await tx.group_languages()
    for row in rows:
        if row.alert_id is not None:
            lang = language or languages.get(row.chat_id, DEFAULT_LANGUAGE)
            await edit(tx, row.id, Outgoing(t(lang, GROUP_CLOSED, id=row.alert_id)), now)


async def refresh_alert_messages(tx: Tx, alert_id: int, now: float) -> None:
    """The alert changed state: edit the group notices and the lawyers' cards in place."""
    alert = await tx.alert(alert_id)
    if alert is None:
        return
    reporter = await tx.person(alert.reporter_id)
    languages = await tx.group_languages()
    for row in await tx.sent_rows(alert_id, kind="group"):
        lang = languages.get(row.chat_id, DEFAULT_LANGUAGE)
        await edit(tx, row.id, group_notice(alert, reporter, lang), now)
    # Once a lawyer holds the case, what the reporter sends is for that lawyer only.
    known = [] if alert.claimed_by is not None else await known_facts(tx, alert_id)
    newest = {row.chat_id: row for row in await tx.sent_rows(alert_id, kind="alert")}
    for row in newest.values():
        person = await tx.person(row.chat_id)
        if person is None or person.role not in ("lawyer", "coordinator") \
                or person.user_id == alert.reporter_id:
            continue  # off the team (their cards were withdrawn) or the reporter themself
        lang = person.language
        card = alert_card(lang, alert, reporter, now, known, lawyer=person.role == "lawyer")
        if alert.claimed_by is not None and alert.claimed_by != row.chat_id:
            holder = await tx.person(alert.claimed_by)
            card = Outgoing(text=card.text + "\n" + t(
                lang, "Taken by {name}.", name=quoted(holder.name) if holder else "?"))
        await edit(tx, row.id, card, now)
    await share_media(tx, alert, now, reporter)
    await keep_live_pin(tx, alert, now)


FACT_CHARS = 300  # one reporter message inside a card, in UTF-16 units (a card is edited
# in place, and an edit cannot be split into several messages)


async def known_facts(tx: Tx, alert_id: int, lang: str = "en") -> list[str]:
    """What the reporter has added so far, as short texts (their notes, and the kind and
    caption of what they sent); each cut so that no number of them can push a card past
    Telegram's size limit, and each already through ``fact_line``: shown after a bullet,
    its further lines quoted."""
    facts = []
    for ev in await tx.events(alert_id):
        if ev.kind == "reporter_text":
            text = str(ev.detail.get("text", ""))
        elif ev.kind == "reporter_media":
            caption = str(ev.detail.get("caption") or "")
            kind = media_word(lang, str(ev.detail.get("media", "media")))
            text = f"[{kind}]" + (f" {caption}" if caption else "")
        else:
            continue
        facts.append(fact_line(text if utf16_len(text) <= FACT_CHARS
                               else cut_utf16(text, FACT_CHARS) + "…"))
    return facts


# --- what the reporter sent, for whoever answers them ------------------------------------

CAPTION_UNITS = 1024  # Telegram's caption limit, in UTF-16 code units
UNCAPTIONED = ("video_note",)  # kinds Telegram gives no caption
MEDIA_WORDS = {"photo": N_("photo"), "voice": N_("voice message"), "video": N_("video"),
               "video_note": N_("video message"), "audio": N_("audio"),
               "document": N_("file")}


def media_word(lang: str, kind: str) -> str:
    return t(lang, MEDIA_WORDS[kind]) if kind in MEDIA_WORDS else t(lang, "media")


async def share_media(tx: Tx, alert: Alert, now: float, reporter: Person | None = None) -> None:
    """Whoever holds the case (until someone does, whoever acknowledged it) sees everything
    the reporter sent: each photo, voice, video or file not yet copied to them is copied
    now, caption included. Called whenever the alert changes hands and with each new item,
    so a lawyer who claims later gets the earlier ones after the contact message."""
    holder_id = alert.claimed_by or alert.acknowledged_by
    if holder_id is None:
        return
    media = [ev for ev in await tx.events(alert.id)
             if ev.kind == "reporter_media" and ev.detail.get("message_id")]
    if not media:
        return
    done = set()
    for payload in await tx.payloads_for(alert.id, holder_id, "media"):
        copied = Outgoing.from_json(payload).copy_of
        if copied is not None:
            done.add(copied[1])
    lang = lang_of(await tx.person(holder_id))
    reporter = reporter or await tx.person(alert.reporter_id)
    for ev in media:
        message_id = int(ev.detail["message_id"])
        if message_id in done:
            continue
        kind = str(ev.detail.get("media", "media"))
        head = t(lang, "Alert #{id} · [{kind}] from {name}", id=alert.id,
                 kind=media_word(lang, kind), name=reporter_name(lang, reporter))
        caption = str(ev.detail.get("caption") or "")
        if kind in UNCAPTIONED:  # said in a message of its own, just before the copy
            await send(tx, holder_id, Outgoing(head), now, kind="case",
                       priority=PRIORITY_CASE, alert_id=alert.id)
            head = ""
        elif caption:
            head = cut_units(head + "\n" + quote_lines(caption), CAPTION_UNITS)
        await send(tx, holder_id, Outgoing(head, copy_of=(alert.reporter_id, message_id)),
                   now, kind="media", priority=PRIORITY_CASE, alert_id=alert.id)


async def say(svc: Services, chat_id: int, text: str) -> None:
    """Queue a plain answer (already translated) as its own domain step."""
    async with svc.step() as tx:
        await send(tx, chat_id, Outgoing(text), svc.now())
