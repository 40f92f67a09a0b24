"""Message text checks: parse_mode parsing into entities and Telegram's length limits.

Telegram parses HTML/Markdown server-side and refuses malformed markup with
"can't parse entities"; a bot that only ever met a lenient fake would fail in production.
Offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .errors import bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024


def u16len(s: str) -> int:
    """Length in UTF-16 code units (the unit of entity offsets)."""
    return len(s.encode("utf-16-le")) // 2


def _cant_parse(detail: str) -> Exception:
    return bad_request(f"can't parse entities: {detail}")


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_VALUE = r"""(?:"[^"]*"|'[^']*'|[^\s>"']+)"""
_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*" + _VALUE + r")?)*)\s*/?>"
)
_ATTR_RE = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset into plain text and entities."""
    out: list[str] = []
    pos16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, Any]]] = []
    i = 0
    while i < len(src):
        c = src[i]
        if c == "<":
            m = _TAG_RE.match(src, i)
            if not m:
                raise _cant_parse(f"Unsupported start tag at byte offset {_byte_offset(src, i)}")
            closing, tag, attrs_src = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if closing:
                if not stack or stack[-1][0] != tag:
                    expected = f'"</{stack[-1][0]}>"' if stack else "nothing"
                    raise _cant_parse(
                        f"Unmatched end tag at byte offset {_byte_offset(src, i)}, "
                        f'expected {expected}, found "</{tag}>"'
                    )
                _, start, ent = stack.pop()
                if pos16 > start and ent:
                    ent.update(offset=start, length=pos16 - start)
                    entities.append(ent)
            else:
                attrs = {
                    a.group(1).lower(): a.group(2) or a.group(3) or a.group(4) or ""
                    for a in _ATTR_RE.finditer(attrs_src)
                }
                ent = _html_entity(tag, attrs, stack, src, i)
                stack.append((tag, pos16, ent))
            i = m.end()
            continue
        if c == "&":
            m = re.match(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", src[i:])
            if m:
                piece = html.unescape(m.group(0))
                out.append(piece)
                pos16 += u16len(piece)
                i += m.end()
                continue
        out.append(c)
        pos16 += u16len(c)
        i += 1
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(
    tag: str, attrs: dict[str, str], stack: list[tuple[str, int, dict[str, Any]]], src: str, i: int
) -> dict[str, Any]:
    if tag in _SIMPLE_TAGS:
        kind = _SIMPLE_TAGS[tag]
        if tag == "code" and stack and stack[-1][0] == "pre":
            lang = attrs.get("class", "")
            if lang.startswith("language-") and stack[-1][2]:
                stack[-1][2]["language"] = lang[len("language-") :]
            return {}
        if tag == "blockquote" and "expandable" in attrs:
            kind = "expandable_blockquote"
        return {"type": kind}
    if tag == "span" and attrs.get("class") == "tg-spoiler":
        return {"type": "spoiler"}
    if tag == "a":
        href = attrs.get("href", "")
        return {"type": "text_link", "url": html.unescape(href)} if href else {}
    if tag == "tg-emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    raise _cant_parse(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(src, i)}')


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_MDV2_LABEL = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler"}


def _find_unescaped(src: str, char: str, start: int) -> int:
    """Index of the first ``char`` at or after ``start`` not escaped by a backslash, or -1."""
    i = start
    while i < len(src):
        if src[i] == "\\":
            i += 2
            continue
        if src[i] == char:
            return i
        i += 1
    return -1


def parse_markdown_v2(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2, including its rule that reserved characters must be escaped."""
    out: list[str] = []
    pos16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int]] = []  # marker, utf16 start, source index
    i, n = 0, len(src)

    def emit(s: str) -> None:
        nonlocal pos16
        out.append(s)
        pos16 += u16len(s)

    while i < n:
        c = src[i]
        if c == "\\":
            if i + 1 < n and 0 < ord(src[i + 1]) < 127:
                emit(src[i + 1])
                i += 2
                continue
            raise _cant_parse(
                "Character '\\' is reserved and must be escaped with the preceding '\\'"
            )
        if c == "`":
            fence = "```" if src.startswith("```", i) else "`"
            end = src.find(fence, i + len(fence))
            while end != -1 and src[end - 1] == "\\":
                end = src.find(fence, end + 1)
            if end == -1:
                label = "Pre" if fence == "```" else "Code"
                raise _cant_parse(
                    f"Can't find end of {label} entity at byte offset {_byte_offset(src, i)}"
                )
            body = src[i + len(fence) : end]
            ent: dict[str, Any] = {"type": "pre" if fence == "```" else "code"}
            if fence == "```" and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    ent["language"] = first
                body = rest
            body = re.sub(r"\\([`\\])", r"\1", body)
            start = pos16
            emit(body)
            if pos16 > start:
                ent.update(offset=start, length=pos16 - start)
                entities.append(ent)
            i = end + len(fence)
            continue
        marker = None
        if src.startswith("__", i):
            marker = "__"
        elif src.startswith("||", i):
            marker = "||"
        elif c in "*_~":
            marker = c
        if marker:
            open_markers = [s[0] for s in stack]
            if marker in open_markers:
                while stack:
                    m_, start, _ = stack.pop()
                    if m_ == marker:
                        break
                if pos16 > start:
                    entities.append(
                        {"type": _MDV2_NAMES[marker], "offset": start, "length": pos16 - start}
                    )
            else:
                stack.append((marker, pos16, i))
            i += len(marker)
            continue
        if c == "[":
            close = _find_unescaped(src, "]", i + 1)
            end = _find_unescaped(src, ")", close + 2) if close != -1 else -1
            if close == -1 or end == -1 or not src.startswith("](", close):
                where = _byte_offset(src, i)
                raise _cant_parse(f"Can't find end of a url at byte offset {where}")
            inner_text, inner_ents = parse_markdown_v2(src[i + 1 : close])
            start = pos16
            for e in inner_ents:
                e["offset"] += start
            entities.extend(inner_ents)
            emit(inner_text)
            entities.append(
                {
                    "type": "text_link",
                    "offset": start,
                    "length": pos16 - start,
                    "url": re.sub(r"\\([)\\])", r"\1", src[close + 2 : end]),
                }
            )
            i = end + 1
            continue
        if c == ">" and (i == 0 or src[i - 1] == "\n"):
            i += 1  # blockquote marker; the quote itself is not tracked
            continue
        if c in _MDV2_RESERVED:
            raise _cant_parse(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        emit(c)
        i += 1
    if stack:
        marker, _, idx = stack[-1]
        where = _byte_offset(src, idx)
        raise _cant_parse(f"Can't find end of {_MDV2_LABEL[marker]} entity at byte offset {where}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out: list[str] = []
    pos16 = 0
    entities: list[dict[str, Any]] = []
    i, n = 0, len(src)
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "*_`[":
            out.append(src[i + 1])
            pos16 += 1
            i += 2
            continue
        if c in kinds or c == "[":
            fence = "```" if src.startswith("```", i) else ("](" if c == "[" else c)
            end = src.find(fence, i + len(fence)) if c != "[" else src.find("](", i)
            close = src.find(")", end + 2) if c == "[" and end != -1 else end
            if end == -1 or close == -1:
                raise _cant_parse(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(src, i)}"
                )
            body = src[i + (1 if c == "[" else len(fence)) : end]
            start = pos16
            out.append(body)
            pos16 += u16len(body)
            if body:
                ent: dict[str, Any] = {"offset": start, "length": pos16 - start}
                if c == "[":
                    ent.update(type="text_link", url=src[end + 2 : close])
                else:
                    ent["type"] = "pre" if fence == "```" else kinds[c]
                entities.append(ent)
            i = close + (1 if c == "[" else len(fence))
            continue
        out.append(c)
        pos16 += u16len(c)
        i += 1
    return "".join(out), entities


def render(
    text: str, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Text and entities as Telegram would store them for this input."""
    if entities:
        return text, list(entities)
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


def message_text(
    text: Any, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Parsed text for sendMessage/editMessageText, with Telegram's empty/too-long checks."""
    plain, ents = render(str(text), parse_mode, entities)
    if not plain.strip():
        raise bad_request("message text is empty")
    if u16len(plain) > MAX_TEXT:
        raise bad_request("message is too long")
    return plain, ents


def caption_text(
    caption: Any, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Parsed media caption with Telegram's length check."""
    plain, ents = render(str(caption), parse_mode, entities)
    if u16len(plain) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return plain, ents


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram adds when a message starts with a command."""
    m = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?", text)
    if not m:
        return []
    return [{"type": "bot_command", "offset": 0, "length": u16len(m.group(0))}]
