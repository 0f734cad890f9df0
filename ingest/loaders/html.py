"""HTML pages (.html, .htm): the visible text as block lines, never markup.

Block elements (``p``, ``div``, ``li``, headings...) and ``<br>`` end a line; ``h1``..``h6``
give the heading level. A table row is one line, its cells joined by `` | ``; as in the .docx
loader, a table nested in a cell does not go into that cell but its rows follow the row, as
further rows. A row with a single filled cell is a layout table (many Chinese government pages
put the whole article in one cell): its content comes out as ordinary lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from ingest.errors import LoadError
from ingest.loaders._text import decode_text, split_lines, tidy_line
from ingest.models import Line, LoadedFile

# Never visible text. Attribute values (onerror=..., style=...) are never read at all.
_DROPPED = {"script", "style", "noscript", "template", "head", "title", "iframe", "object",
            "embed", "svg", "math", "canvas", "select", "button", "input", "textarea"}
_BLOCKS = {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "section", "article", "header",
           "footer", "main", "nav", "aside", "blockquote", "figure", "figcaption", "address",
           "form", "fieldset", "legend", "center", "hr", "caption", "body", "html", "details",
           "summary", "tr", "td", "th", "thead", "tbody", "tfoot"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I)
_CJK = r"\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
# Source line breaks between two Chinese characters are not spaces in the rendered page.
_BREAK_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])[ \t\r\f]*\n\s*(?=[{_CJK}])")
_WHITESPACE = re.compile(r"[ \t\n\r\f\u00a0]+")  # as browsers collapse it; U+3000 is text
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def load_html(path: Path) -> LoadedFile:
    """Load an HTML page as text lines.

    The encoding comes from a BOM, else ``<meta charset>`` (or the XML declaration) when it
    fits the bytes, else detection (GBK pages decode as GB18030). ``<title>`` becomes the first
    line, as a level-1 heading, when the page has no ``<h1>``. Hidden elements (the ``hidden``
    attribute, ``display:none``) are skipped.

    Raises:
        LoadError: no visible text, or binary content.
    """
    data = path.read_bytes()
    soup = BeautifulSoup(decode_text(data, declared=_declared_encoding(data)), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    walker = _Walker()
    try:
        walker.walk(soup)
    except RecursionError as e:  # only tables nested in tables recurse
        raise LoadError("HTML tables nested too deeply to read") from e
    walker.flush()
    lines = walker.lines
    if title and not any(line.heading_level == 1 for line in lines):
        lines.insert(0, Line(_collapse(title), heading_level=1, joinable=False))
    if not lines:
        raise LoadError("empty file")
    return LoadedFile(lines=lines, format="html")


def _declared_encoding(data: bytes) -> str | None:
    head = data[:4096]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def _collapse(text: str) -> str:
    text = _WHITESPACE.sub(" ", _BREAK_BETWEEN_CJK.sub("", text))
    return tidy_line(text).strip()


@dataclass(frozen=True)
class _End:
    """The end of a block or heading element: flush the line, restore the outer heading level."""

    outer_level: int | None


@dataclass
class _Walker:
    """Turns an element tree into lines; ``row_indexes`` marks lines that are table rows."""

    lines: list[Line] = field(default_factory=list)
    row_indexes: set[int] = field(default_factory=set)
    buffer: list[str] = field(default_factory=list)
    level: int | None = None

    def flush(self) -> None:
        text = _collapse("".join(self.buffer))
        self.buffer.clear()
        if text:
            self.lines.append(Line(text, heading_level=self.level, joinable=False))

    def walk(self, node: Tag) -> None:
        # An explicit stack, not recursion: generated pages nest elements hundreds deep.
        stack: list[object] = list(reversed(node.contents))
        while stack:
            item = stack.pop()
            if isinstance(item, _End):
                self.flush()
                self.level = item.outer_level
            elif isinstance(item, NavigableString):
                if not isinstance(item, PreformattedString):  # comments, doctype, CDATA
                    self.buffer.append(str(item))
            elif isinstance(item, Tag):
                stack.extend(reversed(self._enter(item)))

    def _enter(self, tag: Tag) -> list[object]:
        """Handle an element's start; return what to walk next (its children, then its end)."""
        name = tag.name.lower()
        if name in _DROPPED or _hidden(tag):
            return []
        if name == "br":
            self.flush()
            return []
        if name == "table":
            self.flush()
            self._table(tag)
            return []
        if name == "pre":
            self.flush()
            # Preformatted lines keep their breaks, which may fall inside a sentence: joinable,
            # closed by a blank line so that they never join the next block.
            pre = [tidy_line(raw) for raw in split_lines(tag.get_text())]
            self.lines.extend(Line(text, heading_level=self.level) for text in pre if text.strip())
            if any(text.strip() for text in pre):
                self.lines.append(Line(""))
            return []
        if name in _HEADINGS or name in _BLOCKS:
            self.flush()
            end = _End(outer_level=self.level)
            self.level = _HEADINGS.get(name, self.level)
            return [*tag.contents, end]
        return list(tag.contents)

    def _table(self, table: Tag) -> None:
        caption = table.find("caption", recursive=False)
        if caption is not None:
            self.walk(caption)
            self.flush()
        for row in _rows(table):
            found = row.find_all(["td", "th"], recursive=False)
            cells = [self._cell(cell) for cell in found if not _hidden(cell)]
            cells = [cell for cell in cells if cell.lines]
            if len(cells) == 1:  # layout table: keep the cell's lines as they are
                self._extend(cells[0])
                continue
            text = " | ".join(cell.text() for cell in cells if cell.text())
            if text:
                self.row_indexes.add(len(self.lines))
                self.lines.append(Line(text, heading_level=self.level, joinable=False))
            for cell in cells:
                self._extend(cell, only_rows=True)

    def _cell(self, cell: Tag) -> _Walker:
        inner = _Walker(level=self.level)
        inner.walk(cell)
        inner.flush()
        return inner

    def _extend(self, inner: _Walker, *, only_rows: bool = False) -> None:
        for i, line in enumerate(inner.lines):
            if i in inner.row_indexes:
                self.row_indexes.add(len(self.lines))
            elif only_rows:
                continue
            self.lines.append(line)

    def text(self) -> str:
        """The cell's own text on one line, without the rows of tables nested in it."""
        own = (line.text for i, line in enumerate(self.lines) if i not in self.row_indexes)
        return " ".join(text for text in own if text)


def _rows(table: Tag) -> list[Tag]:
    """The rows of this table (in thead/tbody/tfoot or not), not those of nested tables."""
    rows = table.find_all("tr")
    return [row for row in rows if row.find_parent("table") is table and not _hidden(row)]


def _hidden(tag: Tag) -> bool:
    return tag.has_attr("hidden") or bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))
