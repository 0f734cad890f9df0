"""Compilations (汇编): one file whose 目录 lists several articles becomes one document per article."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.clean import extract_toc
from ingest.models import Line
from ingest.official import split_official_header
from ingest.structure import heading_level, next_in_series

MAX_TITLE_CHARS = 80
MAX_SUBTITLE_CHARS = 60
# A title may ask a question (“如何提升巡察谈话的效果？”) but never holds a full stop or a semicolon.
_NOT_IN_TITLE = re.compile(r"[。；;]")
# A salutation or a label ("各位代表：", "中央纪委：") ends in a colon; a title does not.
_LABEL_END = "：:"
# A column tag above the title (【认真学习宣传贯彻党的二十大精神】) names the column, not the article.
_COLUMN_TAG = re.compile(r"^【[^】]{1,30}】$")
# A news kicker (引题) ending in a verb of speech introduces the main title on the next line:
# "习近平在…全会上发表重要讲话强调" / "坚持严的主基调不动摇 …".
_KICKER_END = ("强调", "指出")
# A date alone ("2018年×月×日", "2021年12月") dates a letter; it names nothing.
_DATE_ONLY = re.compile(r"^[\d×xX]{2,4}\s*年(?:\s*[\d×xX]{1,2}\s*月(?:\s*[\d×xX]{1,2}\s*日)?)?$")
# A main title is longer than a byline.
_MIN_MAIN_TITLE_CHARS = 6


@dataclass
class Article:
    """One article's title and its body lines (title line excluded)."""

    title: str
    lines: list[Line]


def _normalise(text: str) -> str:
    return "".join(text.split())


def _looks_like_title(line: Line, later: list[Line]) -> bool:
    text = line.text.strip()
    if not text or len(text) > MAX_TITLE_CHARS or _NOT_IN_TITLE.search(text):
        return False
    if text[-1] in _LABEL_END or text.startswith("——") or heading_level(text) is not None or _DATE_ONLY.match(text):
        return False
    if line.heading_level is not None and line.heading_level > 1:
        return False
    # The first of a series of parts (模板一 … 模板二) names a part, not the file.
    following = next_in_series(text)
    return following is None or all(other.text.strip() != following for other in later)


def _non_blank(lines: list[Line], start: int) -> int | None:
    return next((i for i in range(start, len(lines)) if lines[i].text.strip()), None)


def detect_title(lines: list[Line]) -> tuple[str | None, list[Line]]:
    """Take the opening line as the title when it looks like one.

    A title is short, has no full stop or semicolon (a question mark is fine) and is not a
    salutation (``各位代表：``), a subtitle or a numbered heading. A column tag above it
    (``【…】``) is passed over and kept in the body. A subtitle line after it (``——…``) belongs
    to the title, and so does the main title after a news kicker ending in ``强调``.
    """
    first = _non_blank(lines, 0)
    if first is None:
        return None, lines
    body_before: list[Line] = []
    if _COLUMN_TAG.match(lines[first].text.strip()):
        body_before = [lines[first]]
        first = _non_blank(lines, first + 1)
        if first is None:
            return None, lines
    if not _looks_like_title(lines[first], lines[first + 1 :]):
        return None, lines
    title, end = _extend_title(lines[first].text.strip(), lines, first + 1)
    return title, body_before + lines[end:]


def _extend_title(title: str, lines: list[Line], end: int) -> tuple[str, int]:
    """Add to ``title`` the subtitle or main title on the line after it; return it and where the body starts."""
    following = _non_blank(lines, end)
    if following is None:
        return title, end
    text = lines[following].text.strip()
    if text.startswith("——") and len(text) <= MAX_SUBTITLE_CHARS and not _NOT_IN_TITLE.search(text):
        return title + text, following + 1
    if title.endswith(_KICKER_END) and len(text) >= _MIN_MAIN_TITLE_CHARS and _looks_like_title(lines[following], []):
        return f"{title} {text}", following + 1
    return title, end


def split_compilation(lines: list[Line], fallback_title: str) -> list[Article]:
    """Split a file into articles.

    A file whose 目录 lists two or more titles, each found again as a line of its own after the
    目录, becomes one article per title; anything before the first title (the compilation's own
    cover) is dropped. Any other file is one article: an official document (红头文件) is titled by
    the lines under its 文号; else the first line titles it when that looks like a title, else
    ``fallback_title`` (the file name).
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
            for n, (index, _) in enumerate(starts):
                end = starts[n + 1][0] if n + 1 < len(starts) else len(body)
                title, start = _extend_title(body[index].text.strip(), body[:end], index + 1)
                articles.append(Article(title=title, lines=body[start:end]))
            return articles
    official = split_official_header(body)
    if official is not None:
        return [Article(title=official[0], lines=official[1])]
    title, rest = detect_title(body)
    if title is None:
        return [Article(title=fallback_title, lines=body)]
    return [Article(title=title, lines=rest)]
