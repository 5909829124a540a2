"""Telegram's HTML parse mode, checked the way the Bot API checks it.

The bot formats its replies as HTML; a user-supplied file name with a stray ``<``
breaks a real send with "can't parse entities". The emulator refuses the same
texts so that bug shows up in tests, not in production.

Deliberate simplifications (the error descriptions keep Telegram's wording, the
byte offsets are UTF-8 offsets as Telegram reports them):
- tag attributes are not validated (``<a href>`` without a URL is accepted);
- nesting rules (e.g. nothing inside ``<pre><code>`` but text) are not enforced;
- an ``&`` that starts no known entity is kept as a literal character.
Markdown and MarkdownV2 are accepted without validation.
"""

from __future__ import annotations

import functools
import re

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
PARSE_MODES = frozenset({"HTML", "Markdown", "MarkdownV2"})

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)?([^<>]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile(r"[<&]")


class EntityError(ValueError):
    """The text is not valid in its parse mode; ``str()`` is Telegram's description tail."""


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _entity_char(name: str) -> str:
    if name in _NAMED:
        return _NAMED[name]
    code = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"


def html_to_text(text: str) -> str:
    """The visible text of an HTML-formatted message; raises EntityError if malformed."""
    if "<" not in text and "&" not in text:
        return text
    out: list[str] = []
    open_tags: list[str] = []
    i, end = 0, len(text)
    # Runs of plain text are copied whole; only a "<" or an "&" is looked at closely.
    for special in _SPECIAL.finditer(text):
        j = special.start()
        if j < i:
            continue  # inside a tag or an entity already consumed
        out.append(text[i:j])
        if text[j] == "<":
            m = _TAG.match(text, j)
            if m is None:
                raise EntityError(f"Unclosed start tag at byte offset {_byte_offset(text, j)}")
            _open_or_close(text, j, m, open_tags)
            i = m.end()
        else:
            m = _ENTITY.match(text, j)
            if m is None:
                out.append("&")
                i = j + 1
            else:
                out.append(_entity_char(m.group(1)))
                i = m.end()
    out.append(text[i:end])
    if open_tags:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(out)


def _open_or_close(text: str, at: int, tag: re.Match[str], open_tags: list[str]) -> None:
    closing, name = tag.group(1) == "/", (tag.group(2) or "").lower()
    if name not in ALLOWED_TAGS:
        kind = "end" if closing else "start"
        raise EntityError(f'Unsupported {kind} tag "{name}" at byte offset {_byte_offset(text, at)}')
    if closing:
        expected = open_tags.pop() if open_tags else None
        if expected != name:
            raise EntityError(
                f"Unmatched end tag at byte offset {_byte_offset(text, at)}, "
                f'expected "</{expected}>", found "</{name}>"'
            )
    else:
        open_tags.append(name)


# The bot sends the same texts again and again (a profile per distinct file, each
# notice per language): parse each once. A malformed text raises every time.
_html_to_text_cached = functools.lru_cache(maxsize=1024)(html_to_text)


def visible_text(text: str, parse_mode: str | None) -> str:
    """What the recipient sees; raises EntityError for malformed HTML."""
    if parse_mode == "HTML":
        return _html_to_text_cached(text)
    return text


def strip_html(text: str) -> str:
    """Best-effort plain text for display (never raises): tags dropped, entities decoded."""
    try:
        return html_to_text(text)
    except EntityError:
        return _TAG.sub("", text)


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
