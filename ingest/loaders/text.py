"""Plain text (.txt) and Markdown (.md) files: any common Chinese encoding, one Line per line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders._text import decode_text, is_blank, iter_text_lines, split_lines, tidy_line
from ingest.models import Line, LoadedFile

# An ATX heading as CommonMark has it: up to 3 spaces, 1-6 '#', then a space or the end, and an
# optional closing run of '#'. Requiring the space keeps "##paidbegin##" and "#话题" as text.
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def load_text(path: Path) -> LoadedFile:
    """Load a plain-text file: every line a joinable ``Line``, blank lines kept as ``Line("")``.

    Raises:
        LoadError: empty or whitespace-only, or binary content.
    """
    return LoadedFile(lines=_text_lines(path), format="txt")


def load_markdown(path: Path) -> LoadedFile:
    """Load a Markdown file like plain text, reading ATX headings (``## 标题``) as headings.

    The ``#`` markers are stripped and their count is the heading level; heading lines are not
    joinable. Lines inside fenced code blocks are never headings. Other markup stays as is.

    Raises:
        LoadError: empty or whitespace-only, or binary content.
    """
    return LoadedFile(lines=list(markdown_lines(_text_lines(path))), format="md")


def markdown_lines(lines: Iterable[Line]) -> Iterator[Line]:
    """Read ATX headings in plain-text lines, outside fenced code blocks."""
    fence: str | None = None
    for line in lines:
        fence_match = _FENCE.match(line.text)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        heading = None if fence is not None else _ATX_HEADING.match(line.text)
        if heading and heading.group(2):
            yield Line(heading.group(2), heading_level=len(heading.group(1)), joinable=False)
        elif heading:  # a lone "#": an empty heading, nothing to keep but the break
            yield Line("")
        else:
            yield line


def stream_lines(path: Path) -> Iterator[Line]:
    """The lines of a .txt or .md file of any size, read block by block (``load_text`` and
    ``load_markdown`` without holding the file).

    Raises:
        LoadError: binary content, or bytes that stop decoding part way.
    """
    lines = (Line(tidy_line(raw), joinable=True) for raw in iter_text_lines(path))
    return markdown_lines(lines) if path.suffix.lower() == ".md" else lines


def _text_lines(path: Path) -> list[Line]:
    text = decode_text(path.read_bytes())
    lines = [Line(tidy_line(raw), joinable=True) for raw in split_lines(text)]
    if all(is_blank(line.text) for line in lines):
        raise LoadError("empty file")
    return lines
