"""Cleaning: junk lines out, table of contents out, hard line breaks inside sentences re-joined.

Junk is what no reader cites: download markers, page numbers, and the web page furniture that
reposted articles carry (``来源：…``, ``责任编辑：…``, a ``时间：2026-02-09`` stamp, a photo credit
``本报记者 xx摄``).

A hard break falls inside a sentence when the line before it does not end a sentence (。！？；：”』）)
and is not a heading: in running text such a line continues on the next one (``出台`` /
``《xx市交叉巡察实施办法（试行）》…``), except a ``label：value`` line (``举报人：孙×``), a bullet
headline (``●…``) and a line before a salutation (``各位代表：``). In the opening block, before the
document's first sentence, bylines, datelines and sub-headlines stand alone unless they read on
(end on a clause mark or an opening bracket, leave a bracket open, or carry clause punctuation).
In text wrapped at a fixed width (a PDF, a hard-wrapped export) the width tells instead: a line
that fills it was wrapped, a shorter one ended its paragraph.

Redacted numbers (``x``, ``xx``, ``20xx年``, ``x.xx万``) are ordinary text here and pass through untouched.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ingest.models import Line, Paragraph
from ingest.structure import SENTENCE_END, parse_heading, split_stray_lead

# ##paidbegin## / ##paidend## and other download-site markers.
_MARKER = re.compile(r"^#{2,}[A-Za-z_]+#{2,}$")
# "12", "- 12 -", "—12—", "第12页", "第 3 页 共 10 页", "3/10", "Page 3".
_PAGE_NUMBER = re.compile(
    r"^(?:[-—–－]?\s*\d{1,4}\s*[-—–－]?"
    r"|第\s*\d{1,4}\s*页(?:\s*[，,]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*/\s*\d{1,4}"
    r"|(?:page|Page|PAGE)\s*\d{1,4})$"
)
# Lines of a reposted web page that are not the article: source, editor, time stamp, photo credit.
_LABEL = r"(?:来源|稿源|出处|责任编辑|责编|编辑|审核|审校|校对|发布时间|发布日期|更新时间|浏览次数|点击数|阅读数)"
_DATE = r"\d{4}(?:[-/.年]\d{1,2}(?:[-/.月]\d{1,2}日?)?)?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?"
_BOILERPLATE = re.compile(
    rf"^(?:{_DATE}\s*)?[（(【\[]?\s*{_LABEL}\s*[：:][^。！？；|]{{0,40}}[）)】\]]?$"
    rf"|^时间\s*[：:]\s*{_DATE}$"
    r"|^.{0,60}记者\s*[\u4e00-\u9fff·]{2,8}\s*(?<!拍)摄$"
)
_TOC_HEADER = re.compile(r"^目\s*录$")
# "1.标题<TAB>页码", "标题……12", "第一章 总则 ........ 3"
_TOC_ENTRY = re.compile(r"^(?:\d{1,3}[.．、]\s*)?(?P<title>.+?)(?:\t+|\s{2,}|[.…·．]{2,}\s*)\s*(?P<page>\d{1,4})$")
_TOC_NUMBER = re.compile(r"^\d{1,3}[.．、]\s*")
# Sentence punctuation that ends a line for good (DOMAIN.md); a line ending otherwise continues
# when it reads on (``_reads_on``).
LINE_END = SENTENCE_END + "：:" + "”』）)】」"
# A line ending on one of these stops mid-sentence.
_CLAUSE_END = "，、,（(“‘《〈【「『"
# Punctuation that only a sentence carries inside it (a title or byline has none of it).
_CLAUSE_MARKS = re.compile(r"[，、,；;。！？!?]")
_BRACKETS = (("（", "）"), ("(", ")"), ("《", "》"), ("“", "”"), ("【", "】"))
# A paragraph indent (two spaces, or one ideographic space) opens a new paragraph.
_LABEL_LINE = re.compile(r"^[^，。；：:]{1,8}[：:]\S")
# A short line ending in a colon is a salutation or a label (各位代表： 中央纪委：), never the end of a sentence.
_SALUTATION = re.compile(r"^[^，。；]{1,15}[：:]$")
_BULLETS = ("●", "■", "◆", "▲", "★", "○", "□", "◇")
_INDENT = re.compile(r"^(?:\u3000|\s{2,})")
# Wrapped text: at least this share of the lines (and this many) have about the same length.
_WRAP_SHARE = 0.15
_WRAP_MIN_LINES = 5
_WRAP_MIN_WIDTH = 20
# A line this long filled the width (justified lines vary: half-width digits, spacing).
_WRAP_FILL = 0.9


@dataclass
class TableOfContents:
    """The titles listed under a 目录 heading, in order."""

    titles: list[str]


def is_junk(text: str) -> bool:
    """True for a marker, a bare page number line, or web page furniture (source, editor, photo credit)."""
    stripped = text.strip()
    return bool(_MARKER.match(stripped) or _PAGE_NUMBER.match(stripped) or _BOILERPLATE.match(stripped))


def drop_junk(lines: list[Line]) -> list[Line]:
    """Remove download markers, page-number lines and web page furniture; keep everything else as it is."""
    return [line for line in lines if not (line.text.strip() and is_junk(line.text))]


def extract_toc(lines: list[Line]) -> tuple[TableOfContents | None, list[Line]]:
    """Find a 目录 block, return its titles and the lines without it."""
    for i, line in enumerate(lines):
        if not _TOC_HEADER.match(line.text.strip()):
            continue
        titles: list[str] = []
        j = i + 1
        while j < len(lines):
            text = lines[j].text.strip()
            if text:
                match = _TOC_ENTRY.match(text)
                if not match:
                    break
                titles.append(_TOC_NUMBER.sub("", match.group("title")).strip())
            j += 1
        if titles:
            return TableOfContents(titles), lines[:i] + lines[j:]
    return None, lines


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends with sentence punctuation, closing quotes and brackets included."""
    text = text.rstrip()
    return bool(text) and text[-1] in LINE_END


def wrap_width(lines: list[Line]) -> int | None:
    """The width the text was wrapped at, when most lines share one length; None for text whose
    lines are whole paragraphs."""
    lengths = [len(line.text.strip()) for line in lines if line.joinable and line.text.strip()]
    common = Counter(n for n in lengths if n >= _WRAP_MIN_WIDTH)
    if not common:
        return None
    width = common.most_common(1)[0][0]
    near = sum(common[n] for n in range(width - 1, width + 2))
    if near >= max(_WRAP_MIN_LINES, _WRAP_SHARE * len(lengths)):
        return width
    return None


def _leaves_bracket_open(text: str) -> bool:
    return any(text.count(opening) > text.count(closing) for opening, closing in _BRACKETS)


def _reads_on(text: str, width: int | None, opening: bool) -> bool:
    """True when a line that does not end a sentence is the first part of one.

    In running text the house rule holds: an unpunctuated line continues, unless it is a
    "label：value" line (举报人：孙×) or a bullet headline (●…). In the opening block, before the
    first sentence, bylines, datelines and sub-headlines stand alone unless they read on.
    """
    if text[-1] in _CLAUSE_END or _leaves_bracket_open(text):
        return True
    if width is not None:
        return len(text) >= width * _WRAP_FILL
    if opening or text.startswith(_BULLETS):
        return bool(_CLAUSE_MARKS.search(text))
    return not _LABEL_LINE.match(text)


def _is_table_row(text: str) -> bool:
    return len(text) > 1 and text.startswith("|") and text.endswith("|")


def _continues(line: Line, following: Line, merged: str, width: int | None, opening: bool = False) -> bool:
    """True when a hard break between ``line`` and ``following`` falls inside a sentence.

    ``merged`` is the paragraph so far (``line`` and whatever it already continues);
    ``opening`` is True before the document's first sentence.
    """
    if not (line.joinable and following.joinable):
        return False
    text, after = line.text.strip(), following.text.strip()
    if not after or ends_sentence(text) or _is_table_row(text) or _is_table_row(after):
        return False
    if _INDENT.match(following.text) or after.startswith("——") or _SALUTATION.match(after):
        return False
    if not _reads_on(text, width, opening):
        return False
    if parse_heading(after, following.heading_level):
        return False
    heading = parse_heading(merged, line.heading_level)
    # A numbered line that is cut off mid-clause, or fills a wrapped line, opens a paragraph.
    return heading is None or heading.run_in or text[-1] in _CLAUSE_END or width is not None


def _glue(left: str, right: str) -> str:
    """Join two pieces of a broken sentence: no space in Chinese, one space between Latin words."""
    if left and right and left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return f"{left} {right}"
    return left + right


def build_paragraphs(lines: list[Line]) -> list[Paragraph]:
    """Turn cleaned lines into paragraphs, re-joining lines broken inside a sentence.

    Blank lines end paragraphs. The paragraphs' ``start`` offsets index into
    ``"\\n".join(p.text for p in paragraphs)``.
    """
    width = wrap_width(lines)
    merged: list[tuple[str, int | None, int | None]] = []
    current: Line | None = None
    text = ""
    opening = True
    for line in lines:
        stripped = line.text.strip()
        if current is not None and stripped and _continues(current, line, text, width, opening):
            text = _glue(text, stripped)
            current = Line(line.text, current.page, current.heading_level, line.joinable)
            continue
        if current is not None:
            merged.append((text, current.page, current.heading_level))
            opening = opening and not _CLAUSE_MARKS.search(text)
            current = None
        if stripped:
            current = line
            text = stripped
    if current is not None:
        merged.append((text, current.page, current.heading_level))

    merged = _detach_stray_leads(merged)
    paragraphs: list[Paragraph] = []
    offset = 0
    for body, page, level in merged:
        paragraphs.append(Paragraph(text=body, start=offset, page=page, heading_level=level))
        offset += len(body) + 1
    return paragraphs



def _detach_stray_leads(
    merged: list[tuple[str, int | None, int | None]],
) -> list[tuple[str, int | None, int | None]]:
    """Give a word stuck to the end of a heading back to the paragraph after it."""
    out = list(merged)
    for i in range(len(out) - 1):
        text, page, level = out[i]
        heading = parse_heading(text, level)
        if heading is None or heading.run_in or level is not None:
            continue
        following = out[i + 1]
        if parse_heading(following[0], following[2]):
            continue
        kept, stray = split_stray_lead(text)
        if stray:
            out[i] = (kept, page, level)
            out[i + 1] = (stray + following[0], following[1], following[2])
    return out
