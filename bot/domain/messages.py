"""What the bot says, as plain data the outbox stores and the delivery worker turns into
Bot API calls. The domain builds these; it never sees Telegram's types."""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import asdict, dataclass, replace

# Telegram's limits, in UTF-16 code units of the text after entity parsing (an emoji such as
# 🚨 is two units; HTML tags count nothing, an entity such as &lt; one character).
MAX_MESSAGE = 4096
MAX_CAPTION = 1024


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # callback data, at most 64 bytes; parsed and authorised on every press


@dataclass(frozen=True)
class KeyButton:
    label: str
    request_location: bool = False


@dataclass(frozen=True)
class Outgoing:
    """One message. ``location`` makes it a map pin (``live``: a live location the bot
    keeps current; an edit of it without ``live`` stops it); ``html`` allows a mention link;
    ``copy_of`` (chat id, message id) makes it a copy of what a person sent (copyMessage),
    with ``text`` as its new caption if not empty."""

    text: str = ""
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: tuple[tuple[KeyButton, ...], ...] | None = None
    remove_keyboard: bool = False
    location: tuple[float, float] | None = None
    html: bool = False
    copy_of: tuple[int, int] | None = None
    live: bool = False
    photo: str = ""  # a PNG, base64 (a /report chart): sent as a photo, ``text`` its caption
    # How the message reads in a bundle of many or too full for whole texts (``combine``):
    # its essentials, first line first, and its buttons without the optional ones.
    brief: str = ""
    brief_buttons: tuple[tuple[Button, ...], ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    def residue(self) -> Outgoing:
        """What a delivered row keeps when no edit will need its words: whether it was a
        copy (of which message), a pin or captioned, all that withdrawing it asks; never
        its text, a position or a link (an invite link must not outlive its sending). The
        kinds edited in place (``EDITED_IN_PLACE``, a live location among them) keep their
        whole payload instead, until the alert is anonymised."""
        return Outgoing(text="…" if self.text else "", copy_of=self.copy_of,
                        location=(0.0, 0.0) if self.location is not None else None,
                        live=self.live)

    @classmethod
    def from_json(cls, raw: str) -> Outgoing:
        data = json.loads(raw)
        return cls(
            text=data.get("text", ""),
            buttons=tuple(tuple(Button(**b) for b in row) for row in data.get("buttons", ())),
            keyboard=(
                tuple(tuple(KeyButton(**b) for b in row) for row in data["keyboard"])
                if data.get("keyboard") is not None
                else None
            ),
            remove_keyboard=data.get("remove_keyboard", False),
            location=tuple(data["location"]) if data.get("location") else None,
            html=data.get("html", False),
            copy_of=tuple(data["copy_of"]) if data.get("copy_of") else None,
            live=data.get("live", False),
            photo=data.get("photo", ""),
            brief=data.get("brief", ""),
            brief_buttons=tuple(tuple(Button(**b) for b in row)
                                for row in data.get("brief_buttons", ())),
        )


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (characters outside the BMP, such as
    most emoji, count twice)."""
    return len(text.encode("utf-16-le")) // 2


def cut_utf16(text: str, units: int) -> str:
    """The longest start of ``text`` within ``units`` UTF-16 code units; never half of a
    surrogate pair (Python strings hold code points, so a slice of the code points whose
    units fit can never split one)."""
    if utf16_len(text) <= units:
        return text
    data = text.encode("utf-16-le")[: 2 * max(0, units)]
    if len(data) >= 2 and 0xD800 <= int.from_bytes(data[-2:], "little") <= 0xDBFF:
        data = data[:-2]  # a lone high surrogate: the emoji does not fit, leave it whole
    return data.decode("utf-16-le")


_HTML_TOKEN = re.compile(r"<[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.S)


def _tokens(text: str, html: bool) -> list[tuple[str, int]]:
    """The text as pieces that must stay whole (a tag, an HTML entity, a character), each
    with what it adds to Telegram's count."""
    if not html:
        return [(ch, utf16_len(ch)) for ch in text]
    out = []
    for m in _HTML_TOKEN.finditer(text):
        tok = m.group(0)
        if tok.startswith("<") and tok.endswith(">") and len(tok) > 1:
            out.append((tok, 0))
        elif tok.startswith("&") and len(tok) > 1:
            out.append((tok, utf16_len(html_lib.unescape(tok))))
        else:
            out.append((tok, utf16_len(tok)))
    return out


def plain_text(text: str, html: bool) -> str:
    """The text Telegram counts: for HTML, without tags and with entities resolved."""
    if not html:
        return text
    return "".join(html_lib.unescape(tok) for tok, cost in _tokens(text, True) if cost)


def split_text(text: str, html: bool = False, limit: int = MAX_MESSAGE) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-16 units as Telegram counts them, cut at a
    line break (else a space) when one is near, never inside a tag, an entity or a surrogate
    pair. HTML tags open at a cut are closed at the end of one piece and opened again at the
    start of the next, so every piece is valid markup."""
    toks = _tokens(text, html)
    pieces: list[str] = []
    start, reopen = 0, list[str]()
    while start < len(toks):
        used, i, stack = 0, start, list(reopen)
        newline = space = None
        while i < len(toks) and used + toks[i][1] <= limit:
            tok, cost = toks[i]
            used += cost
            if html and not cost and tok.startswith("</"):
                stack = stack[:-1]
            elif html and not cost:
                stack.append(tok)
            i += 1
            if tok == "\n" and used >= limit // 4:
                newline = (i, list(stack))
            elif tok == " " and used >= limit // 4:
                space = (i, list(stack))
        end, end_stack = (i, stack) if i >= len(toks) else (newline or space or (i, stack))
        body = "".join(tok for tok, _ in toks[start:end]).strip()
        if body:
            closing = "".join(f"</{_tag_name(tag)}>" for tag in reversed(end_stack))
            pieces.append("".join(reopen) + body + closing)
        start, reopen = end, end_stack
    return pieces or [text]


def _tag_name(tag: str) -> str:
    m = re.match(r"<\s*([a-zA-Z][\w-]*)", tag)
    return m.group(1) if m else "b"


def split(out: Outgoing, limit: int = MAX_MESSAGE) -> list[Outgoing]:
    """A message too long for Telegram as several messages, whole and in order, rather than
    cut: the buttons and the keyboard go with the last piece, after all the text they act
    on. A map pin is never split."""
    if out.location is not None or utf16_len(plain_text(out.text, out.html)) <= limit:
        return [out]
    texts = split_text(out.text, out.html, limit)
    first = [Outgoing(text=x, html=out.html) for x in texts[:-1]]
    return [*first, replace(out, text=texts[-1])]


URGENT_MARK = "‼️"  # starts a card's line that a bundle cuts last (every language)
FULL_PARTS = 8  # parts a bundle may show whole, with all their buttons; more show briefs


def combine(parts: list[Outgoing], header: str, limit: int = 3900) -> Outgoing:
    """Several queued alert messages for one chat as one message, each keeping its buttons.
    Up to ``FULL_PARTS`` parts show whole if they fit; past it (a burst), or if they do
    not fit (edits added facts and names), each shows its ``brief`` and brief buttons
    (without a brief: its first two and last two lines, and its first row of buttons), so
    that 25 stay far under the roughly 100 buttons Telegram takes in a message. If still
    too long, the longest parts first, and only as many as need it, keep their first line,
    marks ("‼️": a duress PIN, nobody on call) and last line (the alert, what must not be
    missed, its state), and at worst every part those in three short lines, so that no
    alert in the bundle loses its place to another's details. Measured in UTF-16 units,
    as Telegram counts."""
    if len(parts) == 1:
        return parts[0]
    html = any(p.html for p in parts)

    def fits(texts: list[str]) -> bool:
        return utf16_len(header) + sum(utf16_len(plain_text(x, html)) + 2
                                       for x in texts) <= limit

    texts = [p.text for p in parts]
    briefed = len(parts) > FULL_PARTS or not fits(texts)
    if briefed:
        texts = [p.brief or _compact(p.text) for p in parts]
    if not html:  # (never cut inside a tag: no alert card is HTML)
        for i in sorted(range(len(texts)), key=lambda i: -utf16_len(texts[i])):
            if fits(texts):
                break
            texts[i] = _least(texts[i])  # the longest first, as few as need it
        if not fits(texts):  # 25 parts of at most 150 units: 3,800 with the header
            texts = [_least(x, tight=True) for x in texts]
    text = header + "\n\n" + "\n\n".join(texts)
    rows = tuple(row for p in parts for row in _buttons(p, briefed))
    return Outgoing(text=text, buttons=rows, html=html)


def _buttons(part: Outgoing, briefed: bool) -> tuple[tuple[Button, ...], ...]:
    if not briefed:
        return part.buttons
    return part.brief_buttons if part.brief else part.buttons[:1]


def _compact(text: str) -> str:
    lines = text.split("\n")
    return text if len(lines) <= 4 else "\n".join([*lines[:2], "…", *lines[-2:]])


def _least(text: str, tight: bool = False) -> str:
    """The first line, the marks ("‼️") and the last line: the alert, what must not be
    missed, its state; each at most 90 units, or (``tight``) in three lines of 45, 55
    (the marks together) and 45."""
    lines = text.split("\n")
    if len(lines) == 1:
        return cut_utf16(text, 90 if not tight else 145)
    first, last = lines[0], lines[-1]
    marks = [x for x in lines[1:-1] if x.startswith(URGENT_MARK)]
    if not tight:
        return "\n".join(cut_utf16(x, 90) for x in (first, *marks, last))
    kept = [cut_utf16(first, 45), *([cut_utf16(" ".join(marks), 55)] if marks else []),
            cut_utf16(last, 45)]
    return "\n".join(kept)


# Priorities: lower is sent first.
# bot/delivery/order.py turns these (with a row's kind) into the order of sends.
PRIORITY_ALERT = 0  # a new alert's first page, a registered reporter's "received"
PRIORITY_REPLY = 1  # an escalation wave; the answer to what a person just did
PRIORITY_CASE = 2  # case updates, pins, edits of lawyer messages
PRIORITY_GROUP = 3  # press-freedom group notices
PRIORITY_LOW = 4  # reminders and summaries

# Outbox kind of a request to delete a sent message (its target_id): a case message that
# cannot become a neutral text (a pin, a copied photo or video message) of someone cut off.
DELETE = "delete"
# Outbox kind of a request to delete a message a person sent us (a typed PIN); its payload is
# ``{"message_id": N}``, in the chat of the row.
ERASE = "erase"
# The kinds of message edited in place as an alert moves (cards, group notices, the
# holder's live location): their rows keep the whole payload (sealed) after delivery, as a
# sent row's payload is what its message shows; every other row keeps a residue. A live
# location must keep its position: with only a residue's (0, 0) the first move back to the
# spot it was sent at would go out, and Telegram refuses an edit that changes nothing
# ("message is not modified"), while a move to (0, 0) itself would be taken as no move.
EDITED_IN_PLACE = ("alert", "group", "board", "live")
# Outbox kind of a request to pin a sent message (its target_id): a group's live board.
PIN = "pin_message"
