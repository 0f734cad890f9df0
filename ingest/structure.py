"""Headings of Chinese official documents and the section path of each paragraph.

Levels, outermost first: ``第X章`` (1), ``第X节`` (2), ``一、`` (3), ``（一）`` (4), ``1.`` (5), ``（1）`` (6).
A heading either stands on its own line (usually without punctuation) or leads its paragraph
("（一）加强组织领导。省委……"), in which case the first sentence is the heading and the
paragraph keeps its whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CN_NUM = "一二三四五六七八九十百零〇两"
HEADING_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (1, re.compile(rf"^第[{_CN_NUM}\d]+章")),
    (2, re.compile(rf"^第[{_CN_NUM}\d]+节")),
    (3, re.compile(rf"^[{_CN_NUM}]+、")),
    (4, re.compile(rf"^[（(][{_CN_NUM}]+[）)]")),
    (5, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (6, re.compile(r"^[（(]\d{1,2}[）)]")),
]

SENTENCE_END = "。！？；!?;"
# Characters that may close a sentence after its end mark (quotes, brackets).
CLOSERS = "”’』」）)》"
# A heading standing alone is short; longer lines are paragraphs that happen to start with a number.
MAX_HEADING_CHARS = 60
# A run-in heading's first sentence is short.
MAX_RUN_IN_CHARS = 40
# Words that open a paragraph and that PDF/Word export sometimes leaves at the end of the heading
# above it ("…联动监督格局坚持" / "认真贯彻落实…"): moved back to the paragraph they belong to.
STRAY_LEADS = ("坚持", "持续", "着力", "注重", "始终", "不断", "同时", "其中")
_RUN_IN = re.compile(rf"^(.{{2,{MAX_RUN_IN_CHARS}}}?)[。：:]")


@dataclass(frozen=True)
class Heading:
    """A recognised heading: its level, its text, and whether its paragraph goes on after it."""

    level: int
    text: str
    run_in: bool = False


def heading_level(text: str) -> int | None:
    """The level of the numbering that opens ``text``, or None."""
    for level, pattern in HEADING_PATTERNS:
        if pattern.match(text):
            return level
    return None


def parse_heading(text: str, style_level: int | None = None) -> Heading | None:
    """Recognise ``text`` as a heading.

    Args:
        text: One cleaned line or paragraph.
        style_level: A level given by the file format (docx style, HTML tag), trusted as is.
    """
    text = text.strip()
    if not text:
        return None
    if style_level is not None:
        return Heading(level=max(style_level, 0), text=text)
    level = heading_level(text)
    if level is None:
        return None
    if len(text) <= MAX_HEADING_CHARS and not any(c in SENTENCE_END for c in text):
        return Heading(level=level, text=text)
    match = _RUN_IN.match(text)
    if match and len(text) > len(match.group(0)):
        return Heading(level=level, text=match.group(1), run_in=True)
    return None


def split_stray_lead(heading: str) -> tuple[str, str]:
    """Split a word of the next paragraph off the end of a heading: ``(heading, stray)``."""
    for word in STRAY_LEADS:
        if heading.endswith(word) and len(heading) - len(word) >= 6:
            return heading[: -len(word)], word
    return heading, ""


class SectionTracker:
    """Follows the heading stack as paragraphs go by and names the current section path."""

    def __init__(self) -> None:
        self._stack: list[Heading] = []

    def enter(self, heading: Heading) -> None:
        """A heading begins: it replaces every heading at its level or deeper."""
        while self._stack and self._stack[-1].level >= heading.level:
            self._stack.pop()
        self._stack.append(heading)

    @property
    def path(self) -> tuple[str, ...]:
        """The headings from the outermost to the current one."""
        return tuple(h.text for h in self._stack)
