"""Compilations (汇编): one file whose 目录 lists several articles becomes one document per article."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.clean import extract_toc
from ingest.models import Line
from ingest.structure import SENTENCE_END, heading_level

MAX_TITLE_CHARS = 80


@dataclass
class Article:
    """One article's title and its body lines (title line excluded)."""

    title: str
    lines: list[Line]


def _normalise(text: str) -> str:
    return "".join(text.split())


def detect_title(lines: list[Line]) -> tuple[str | None, list[Line]]:
    """Take the first line as the title when it looks like one (short, no sentence punctuation)."""
    for i, line in enumerate(lines):
        text = line.text.strip()
        if not text:
            continue
        looks_like_title = (
            len(text) <= MAX_TITLE_CHARS
            and not any(c in SENTENCE_END for c in text)
            and heading_level(text) is None
            and (line.heading_level is None or line.heading_level <= 1)
        )
        if looks_like_title:
            return text, lines[i + 1 :]
        return None, lines
    return None, lines


def split_compilation(lines: list[Line], fallback_title: str) -> list[Article]:
    """Split a file into articles.

    A file whose 目录 lists two or more titles, each found again as a line of its own after the
    目录, becomes one article per title; anything before the first title (the compilation's own
    cover) is dropped. Any other file is one article, titled by its first line when that looks
    like a title, else by ``fallback_title`` (the file name).
    """
    toc, body = extract_toc(lines)
    if toc and len(toc.titles) >= 2:
        wanted = [_normalise(t) for t in toc.titles]
        starts: list[tuple[int, str]] = []
        position = 0
        for title, key in zip(toc.titles, wanted):
            for i in range(position, len(body)):
                if _normalise(body[i].text) == key:
                    starts.append((i, title))
                    position = i + 1
                    break
        if len(starts) >= 2:
            articles = []
            for n, (index, title) in enumerate(starts):
                end = starts[n + 1][0] if n + 1 < len(starts) else len(body)
                articles.append(Article(title=body[index].text.strip(), lines=body[index + 1 : end]))
            return articles
    title, rest = detect_title(body)
    if title is None:
        return [Article(title=fallback_title, lines=body)]
    return [Article(title=title, lines=rest)]
