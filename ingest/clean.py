"""Cleaning: junk lines out, table of contents out, hard line breaks inside sentences re-joined.

Redacted numbers (``x``, ``xx``, ``20xx年``, ``x.xx万``) are ordinary text here and pass through untouched.
"""

from __future__ import annotations

import re
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
_TOC_HEADER = re.compile(r"^目\s*录$")
# "1.标题<TAB>页码", "标题……12", "第一章 总则 ........ 3"
_TOC_ENTRY = re.compile(r"^(?:\d{1,3}[.．、]\s*)?(?P<title>.+?)(?:\t+|\s{2,}|[.…·．]{2,}\s*)\s*(?P<page>\d{1,4})$")
_TOC_NUMBER = re.compile(r"^\d{1,3}[.．、]\s*")
# Sentence punctuation that ends a line for good (DOMAIN.md): a line ending otherwise continues.
LINE_END = SENTENCE_END + "：:" + "”』）)】」"


@dataclass
class TableOfContents:
    """The titles listed under a 目录 heading, in order."""

    titles: list[str]


def is_junk(text: str) -> bool:
    """True for a marker or a bare page number line."""
    stripped = text.strip()
    return bool(_MARKER.match(stripped) or _PAGE_NUMBER.match(stripped))


def drop_junk(lines: list[Line]) -> list[Line]:
    """Remove download markers and page-number lines; keep everything else as it is."""
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


def _continues(line: Line, following: Line) -> bool:
    """True when a hard break between ``line`` and ``following`` falls inside a sentence."""
    if not (line.joinable and following.joinable):
        return False
    if ends_sentence(line.text) or not following.text.strip():
        return False
    heading = parse_heading(line.text, line.heading_level)
    if (heading and not heading.run_in) or parse_heading(following.text, following.heading_level):
        return False
    return not following.text.lstrip().startswith("——")


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
    merged: list[tuple[str, int | None, int | None]] = []
    current: Line | None = None
    text = ""
    for line in lines:
        stripped = line.text.strip()
        if current is not None and stripped and _continues(current, line):
            text = _glue(text, stripped)
            current = Line(text, current.page, current.heading_level, line.joinable)
            continue
        if current is not None:
            merged.append((text, current.page, current.heading_level))
            current = None
        if stripped:
            current = Line(stripped, line.page, line.heading_level, line.joinable)
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
