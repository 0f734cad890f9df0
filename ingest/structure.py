"""Headings of Chinese official documents and the section path of each paragraph.

Levels, outermost first: ``第X编`` / ``第X部分`` (0), ``第X章`` (1), ``第X节`` (2), ``一、`` (3),
``（一）`` (4), ``1.`` (5), ``（1）`` (6). A heading either stands on its own line (usually without
punctuation) or leads its paragraph ("（一）加强组织领导。省委……"), in which case the first sentence
is the heading and the paragraph keeps its whole text.

Two conventions limit what counts as a heading:

- In a regulation (法规) built of articles (``第一条`` …), the articles are not headings and the
  numbered items inside an article (项 ``（一）``, 目 ``1.``) are not either: only 编/章/节 are.
- Enumerations such as ``一是…；二是…`` are never headings.

Beyond numbering, ``outline`` reads three conventions from a paragraph's neighbours: the labels
of a series of parts (``材料一`` … ``材料二``, outermost), the unnumbered subheadings (小标题) of
articles and news pieces (a short line of its own between body paragraphs), and the questions of
an interview (``问：…`` answered by ``答：…``). Headings keep their typeset numbering but lose
typesetting spaces (``第一章　总　则`` → ``第一章 总则``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.models import Paragraph

_CN_NUM = "一二三四五六七八九十百零〇两"
HEADING_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"^第[{_CN_NUM}\d]+(?:编|部分)")),
    (1, re.compile(rf"^第[{_CN_NUM}\d]+章")),
    (2, re.compile(rf"^第[{_CN_NUM}\d]+节")),
    (3, re.compile(rf"^[{_CN_NUM}]+、")),
    (4, re.compile(rf"^[（(][{_CN_NUM}]+[）)]")),
    (5, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (6, re.compile(r"^[（(]\d{1,2}[）)]")),
]
# The deepest level a regulation's headings go to (编/章/节); deeper numbering there is 项/目.
REGULATION_MAX_LEVEL = 2
# An unnumbered subheading sits below every numbered level unless a numbered heading holds it.
SOFT_LEVEL = 7
_ARTICLE = re.compile(rf"^第[{_CN_NUM}\d]+条")
# A regulation has at least this many paragraphs that open with 第X条.
MIN_ARTICLES = 2

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
_RUN_IN = re.compile(rf"^(.{{2,{MAX_RUN_IN_CHARS}}}?)[。：:？?]")
# A heading may ask a question ("一、如何探索问题底稿在巡察工作中的应用？").
_QUESTION_END = "？?"
# 一是… 二是… enumerate inside a paragraph; they never head a section.
_ENUMERATION = re.compile(rf"^[{_CN_NUM}]+是")
_CJK = "\u3400-\u9fff"
# "总　则", "审  理": a short heading name letter-spaced by typesetting.
_LETTER_SPACED = re.compile(rf"^(?:[{_CJK}]\s+)+[{_CJK}]$")

# An unnumbered subheading is short, and has no punctuation but commas; it may end in 。 when
# it is very short ("做好谈话准备。").
MAX_SOFT_HEADING_CHARS = 30
MAX_SOFT_HEADING_WITH_STOP = 15
_SOFT_FORBIDDEN = re.compile(r"[。！？；!?;：:|]")
_SOFT_FORBIDDEN_BEFORE_STOP = re.compile(r"[，、,。！？；!?;：:|]")
# A document has at least this many of them, or none: subheadings come in sets.
MIN_SOFT_HEADINGS = 2
# The label of one of a series of parts: a short stem and a numeral (材料一, 模板二, 附件3).
_SERIES_LABEL = re.compile(rf"^(?P<stem>(?!第)[{_CJK}]{{1,12}}?)(?P<number>[一二三四五六七八九]|\d{{1,2}})$")
_NEXT_NUMERAL = dict(zip("一二三四五六七八", "二三四五六七八九"))
# A part of a file sits above every numbered level.
PART_LEVEL = 0
# An interview (答记者问) is a run of questions and answers.
_QUESTION = re.compile(r"^\s*问\s*[：:]")
_ANSWER = re.compile(r"^\s*答\s*[：:]")
MAX_QUESTION_CHARS = 80


@dataclass(frozen=True)
class Heading:
    """A recognised heading: its level, its text, whether its paragraph goes on after it (run-in),
    and whether it is an unnumbered subheading (soft: its level depends on what it follows)."""

    level: int
    text: str
    run_in: bool = False
    soft: bool = False


def heading_level(text: str) -> int | None:
    """The level of the numbering that opens ``text``, or None."""
    for level, pattern in HEADING_PATTERNS:
        if pattern.match(text):
            return level
    return None


def heading_label(text: str) -> str:
    """A heading as it reads in a section path: one plain space where typesetting put several.

    ``第一章　总　则`` becomes ``第一章 总则``: the ideographic space after the number becomes one
    space, and the letter-spacing of a short name goes.
    """
    text = " ".join(text.split())
    match = next((m for _, p in HEADING_PATTERNS if (m := p.match(text))), None)
    if match is None:
        return text
    number, name = text[: match.end()], text[match.end() :].strip()
    if _LETTER_SPACED.match(name):
        name = "".join(name.split())
    separator = " " if text[match.end() : match.end() + 1] == " " and name else ""
    return f"{number}{separator}{name}"


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
        return Heading(level=max(style_level, 0), text=heading_label(text))
    level = heading_level(text)
    if level is None:
        return None
    if len(text) <= MAX_HEADING_CHARS and not any(c in SENTENCE_END for c in text.rstrip(_QUESTION_END)):
        return Heading(level=level, text=heading_label(text))
    match = _RUN_IN.match(text)
    if match and len(text) > len(match.group(0)):
        return Heading(level=level, text=heading_label(match.group(1)), run_in=True)
    return None


def is_regulation(texts: Sequence[str]) -> bool:
    """True when the paragraphs are articles of a regulation (``第一条`` … at least twice)."""
    return sum(1 for t in texts if _ARTICLE.match(t)) >= MIN_ARTICLES


def document_heading(text: str, style_level: int | None, regulation: bool) -> Heading | None:
    """``parse_heading`` within a document: in a regulation, numbered items below 节 are not headings."""
    heading = parse_heading(text, style_level)
    if heading and regulation and style_level is None and heading.level > REGULATION_MAX_LEVEL:
        return None
    return heading


def outline(paragraphs: Sequence[Paragraph]) -> list[Heading | None]:
    """The heading each paragraph opens, or None.

    Numbered and styled headings (in a regulation only 编/章/节), the labels of a series of parts
    (outermost), unnumbered subheadings and the questions of an interview (``soft``: their
    paragraph stays in the text).
    """
    texts = [p.text for p in paragraphs]
    regulation = is_regulation(texts)
    parts = series_headings(texts)
    headings = [
        Heading(PART_LEVEL, heading_label(p.text)) if n in parts else document_heading(p.text, p.heading_level, regulation)
        for n, p in enumerate(paragraphs)
    ]
    if not regulation:
        for n in soft_headings(texts, [h is not None for h in headings]):
            headings[n] = Heading(SOFT_LEVEL, " ".join(texts[n].split()).removesuffix("。"), soft=True)
    for n in interview_questions(texts):
        if headings[n] is None:
            headings[n] = Heading(SOFT_LEVEL, _QUESTION.sub("", texts[n]).strip().rstrip("。？?"), soft=True)
    return headings


def interview_questions(texts: Sequence[str]) -> list[int]:
    """Indexes of the questions of an interview (答记者问): ``问：…`` answered by the next paragraph, ``答：…``."""
    return [
        n
        for n in range(len(texts) - 1)
        if _QUESTION.match(texts[n]) and len(texts[n]) <= MAX_QUESTION_CHARS and _ANSWER.match(texts[n + 1])
    ]


def _soft_candidate(text: str) -> bool:
    text = text.strip()
    if not 2 <= len(text) <= MAX_SOFT_HEADING_CHARS or text.startswith(("——", "—", "-")):
        return False
    if _ENUMERATION.match(text) or heading_level(text) is not None or _ARTICLE.match(text):
        return False
    if text.endswith("。"):
        return len(text) <= MAX_SOFT_HEADING_WITH_STOP and not _SOFT_FORBIDDEN_BEFORE_STOP.search(text[:-1])
    return not _SOFT_FORBIDDEN.search(text)


def _is_body(text: str) -> bool:
    """A paragraph of running text: it ends a sentence, or it is a long lead-in to a list (：)."""
    text = text.rstrip(CLOSERS)
    if not text:
        return False
    return text[-1] in SENTENCE_END or (text[-1] in "：:" and len(text) > MAX_SOFT_HEADING_CHARS)


def soft_headings(texts: Sequence[str], headings: Sequence[bool]) -> set[int]:
    """Indexes of the paragraphs that are unnumbered subheadings (小标题).

    A subheading is a short paragraph of its own with no sentence punctuation inside. It follows
    body text (a paragraph that ends a sentence, or is too long to be a title) or a heading, and a
    longer paragraph of body text follows it (not a numbered item: a short line before one is its
    lead-in). The opening block of a document (bylines, dates, subtitles before the first body
    paragraph) holds none. A document with only one such paragraph has none: subheadings come in
    sets, a single one is more likely a stray line.

    Args:
        texts: The document's paragraphs.
        headings: For each paragraph, whether it is a heading, run-in headings included.
    """
    found: list[int] = []
    seen_body = False
    for i, text in enumerate(texts):
        if headings[i] or not seen_body:
            seen_body = seen_body or _is_body(text)
            continue
        before = texts[i - 1]
        before_ok = headings[i - 1] or _is_body(before) or len(before) > MAX_SOFT_HEADING_CHARS or (i - 1) in found
        after = texts[i + 1] if i + 1 < len(texts) else ""
        after_ok = bool(after) and not headings[i + 1] and _is_body(after) and len(after) > len(text)
        if before_ok and after_ok and _soft_candidate(text):
            found.append(i)
    return set(found) if len(found) >= MIN_SOFT_HEADINGS else set()


def next_in_series(text: str) -> str | None:
    """The label that follows ``text`` in a series of parts: ``举报材料模板一`` → ``举报材料模板二``,
    ``附件1`` → ``附件2``; None when ``text`` is not such a label."""
    match = _SERIES_LABEL.match(text.strip())
    if not match:
        return None
    number = match.group("number")
    following = str(int(number) + 1) if number.isdigit() else _NEXT_NUMERAL.get(number)
    return match.group("stem") + following if following else None


def series_headings(texts: Sequence[str]) -> set[int]:
    """Indexes of the labels of a series of parts (``材料一`` … ``材料二``, ``附件1`` … ``附件2``),
    each a paragraph of its own: the outermost headings of a file that holds several parts."""
    stripped = [t.strip() for t in texts]
    found: set[int] = set()
    for i, text in enumerate(stripped):
        following = next_in_series(text)
        if following is None:
            continue
        later = next((j for j in range(i + 1, len(stripped)) if stripped[j] == following), None)
        if later is not None:
            found.update((i, later))
    return found


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

    def _placed(self, heading: Heading) -> Heading:
        """A subheading takes the level of the subheading before it, or goes one level below the
        numbered heading it follows, or below every numbered level when there is none (so that
        the next numbered heading closes it)."""
        if not heading.soft:
            return heading
        top = self._stack[-1] if self._stack else None
        if top is None:
            level = SOFT_LEVEL
        else:
            level = top.level if top.soft else top.level + 1
        return Heading(level=level, text=heading.text, soft=True)

    def enter(self, heading: Heading) -> None:
        """A heading begins: it replaces every heading at its level or deeper."""
        heading = self._placed(heading)
        while self._stack and self._stack[-1].level >= heading.level:
            self._stack.pop()
        self._stack.append(heading)

    def opens_subsection(self, heading: Heading) -> bool:
        """True when ``heading`` would open a subsection of the current section rather than close it."""
        return not self._stack or self._placed(heading).level > self._stack[-1].level

    @property
    def path(self) -> tuple[str, ...]:
        """The headings from the outermost to the current one."""
        return tuple(h.text for h in self._stack)
