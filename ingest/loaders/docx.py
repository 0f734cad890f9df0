"""Word .docx files: paragraphs and tables in document order, headings from styles.

Tables give one Line per row, the cells joined by `` | ``. A table nested in a cell is not
flattened into that cell: its rows follow the row that holds it, as further rows, so that every
row still reads ``a | b | c``. Text boxes, headers, footers, footnotes and comments are left out
(page furniture, or text outside the flow of the document); tracked insertions are kept and
tracked deletions dropped, as Word shows the document.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from docx.styles.style import BaseStyle
from docx.text.paragraph import Paragraph
from lxml import etree

from ingest.errors import LoadError
from ingest.loaders._text import tidy_line
from ingest.loaders._zip import refuse_bad_archive
from ingest.models import Line, LoadedFile

logger = logging.getLogger(__name__)


_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)
_TITLE_STYLES = {"title", "标题"}
_BODY_OUTLINE_LEVEL = 9  # w:outlineLvl 9 means "body text"

_W_P, _W_TBL, _W_SDT = qn("w:p"), qn("w:tbl"), qn("w:sdt")


def load_docx(path: Path) -> LoadedFile:
    """Load a .docx file.

    Paragraphs become whole, non-joinable ``Line``s; a heading style (``Heading 1``..``Heading 9``,
    ``标题 1``..) or an outline level gives ``heading_level`` 1..9, and the ``Title`` style gives
    0 (above ``Heading 1``; mind that 0 is falsy). A paragraph with soft line breaks becomes
    joinable lines followed by a blank line. Empty paragraphs are dropped.

    Raises:
        LoadError: corrupt or not a .docx, a zip bomb, or no text at all.
    """
    return read_docx(path, format="docx")


def read_docx(path: Path, *, format: str) -> LoadedFile:
    """Load a .docx file and label the result with ``format`` (the .doc loader passes "doc")."""
    _refuse_bad_package(path)
    try:
        document = docx.Document(str(path))
    except Exception as e:  # python-docx lets KeyError, AttributeError, lxml errors... through
        raise LoadError(f"corrupt .docx: {_reason(e)}") from e
    body = getattr(document.element, "body", None)
    if body is None:
        raise LoadError("corrupt .docx: the document part has no body")
    lines = list(_block_lines(body, document))
    if not lines:
        raise LoadError("empty file")
    return LoadedFile(lines=lines, format=format)


def _reason(error: Exception) -> str:
    if isinstance(error, (PackageNotFoundError, zipfile.BadZipFile, ValueError, zlib.error,
                          EOFError, etree.XMLSyntaxError)):
        return str(error)
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])  # "There is no item named 'word/document.xml' in the archive"
    return f"not a valid Word package ({type(error).__name__})"


def _refuse_bad_package(path: Path) -> None:
    """Check the zip before any part of it is inflated: not a zip, or a zip bomb."""
    with path.open("rb") as f:
        head = f.read(len(_OLE_SIGNATURE))
    if head == _OLE_SIGNATURE:
        raise LoadError(
            "corrupt .docx: this is an old .doc file or a password-protected document; "
            "remove the password, or rename it to .doc"
        )
    refuse_bad_archive(path, ".docx")


def _block_lines(container: etree._Element, document: docx.document.Document) -> Iterator[Line]:
    """The lines of a body or table cell, paragraphs and tables in document order."""
    for element in _blocks(container):
        if element.tag == _W_P:
            yield from _paragraph_lines(Paragraph(element, document))
        else:
            yield from _table_lines(element, document)


def _blocks(container: etree._Element) -> Iterator[etree._Element]:
    """Paragraphs and tables directly in a container, looking through content controls."""
    for child in container:
        if child.tag in (_W_P, _W_TBL):
            yield child
        elif child.tag == _W_SDT:
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _blocks(content)


def _paragraph_lines(paragraph: Paragraph) -> Iterator[Line]:
    level = _heading_level(paragraph)
    pieces = [tidy_line(piece) for piece in _paragraph_text(paragraph._p).split("\n")]
    filled = [piece for piece in pieces if piece.strip()]
    if len(filled) == 1:
        yield Line(filled[0], heading_level=level, joinable=False)
        return
    if not filled:
        return
    # Soft line breaks (Shift+Enter) may fall inside a sentence: the pieces are joinable, and a
    # blank line closes the paragraph (and stands for a double break) as in plain text.
    previous_blank = True
    for piece in pieces:
        if piece.strip():
            yield Line(piece, heading_level=level, joinable=True)
            previous_blank = False
        elif not previous_blank:
            yield Line("")
            previous_blank = True
    if not previous_blank:
        yield Line("")


def _paragraph_text(p: etree._Element) -> str:
    """The visible text: runs at any depth (hyperlinks, fields, tracked insertions, inline
    content controls) but not runs of text boxes anchored in the paragraph."""
    runs = p.xpath(".//w:r[not(ancestor::w:txbxContent)]")
    return "".join(run.text for run in runs)


def _heading_level(paragraph: Paragraph) -> int | None:
    direct = _outline_level(paragraph._p)
    if direct is not None:
        return direct
    try:
        style = paragraph.style
    except (KeyError, ValueError) as e:  # a style id missing from styles.xml
        logger.debug("paragraph style unreadable: %s", e)
        return None
    seen: set[int] = set()
    while isinstance(style, BaseStyle) and id(style) not in seen:
        seen.add(id(style))
        name = (style.name or "").strip()
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        if name.lower() in _TITLE_STYLES:
            return 0
        level = _outline_level(style.element)
        if level is not None:
            return level
        style = style.base_style
    return None


def _outline_level(element: etree._Element) -> int | None:
    """The outline level of a paragraph or a style (0-based in the XML) as 1..9, or None."""
    values = element.xpath("./w:pPr/w:outlineLvl/@w:val")
    if not values:
        return None
    try:
        level = int(values[0])
    except ValueError:
        return None
    return None if level >= _BODY_OUTLINE_LEVEL or level < 0 else level + 1


def _table_lines(table: etree._Element, document: docx.document.Document) -> Iterator[Line]:
    for row in table.xpath("./w:tr | ./w:sdt/w:sdtContent/w:tr"):
        cells: list[str] = []
        nested: list[Line] = []
        for cell in row.xpath("./w:tc | ./w:sdt/w:sdtContent/w:tc"):
            if _continues_vertical_merge(cell):
                continue  # the merged cell's text already stands in the row above
            texts: list[str] = []
            for element in _blocks(cell):
                if element.tag == _W_P:
                    paragraph = Paragraph(element, document)
                    texts.extend(line.text.strip() for line in _paragraph_lines(paragraph))
                else:
                    nested.extend(_table_lines(element, document))
            text = " ".join(t for t in texts if t)
            if text:
                cells.append(text)
        if cells:
            yield Line(" | ".join(cells), joinable=False)
        yield from nested


def _continues_vertical_merge(cell: etree._Element) -> bool:
    merges = cell.xpath("./w:tcPr/w:vMerge")
    return bool(merges) and merges[0].get(qn("w:val"), "continue") == "continue"
