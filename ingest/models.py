"""The data that flows through ingest: loaded lines, source documents, chunks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One line or block of a loaded file, before cleaning.

    Attributes:
        text: The text, without its line break.
        page: 1-based page number (PDF), or None.
        heading_level: A level given by the file format itself (a docx heading style, an HTML
            ``<h2>``), or None when only the text can tell.
        joinable: True when a hard break may fall inside a sentence (plain text, PDF), so that
            cleaning may re-join it with the next line; False for blocks that are whole
            paragraphs or table rows (docx, HTML).
        row: The spreadsheet's own 1-based row number of a data row (.xlsx, .csv), or None.
        sheet: The worksheet's name of a data row ("" for a .csv), or None.
    """

    text: str
    page: int | None = None
    heading_level: int | None = None
    joinable: bool = True
    row: int | None = None
    sheet: str | None = None


@dataclass
class LoadedFile:
    """What a loader returns: the file's lines in reading order.

    ``title`` is a title the format states apart from the lines (a spreadsheet's title row), or None.
    """

    lines: list[Line]
    format: str
    title: str | None = None


@dataclass
class Paragraph:
    """A cleaned paragraph of a document, with where it sits in the document's text."""

    text: str
    start: int
    page: int | None = None
    heading_level: int | None = None
    row: int | None = None
    sheet: str | None = None


def row_label(sheet: str | None, row: int) -> str:
    """Where a spreadsheet row sits, as a citation names it: ``Sheet1 第5行`` (``第5行`` for a .csv)."""
    return f"{sheet} 第{row}行" if sheet else f"第{row}行"


@dataclass
class SourceDocument:
    """One article: a whole file, or one article of a compilation (汇编).

    ``text`` is the cleaned text (paragraphs joined by newlines); chunk spans index into it.
    ``date`` is the date of issue or publication, ISO ``YYYY-MM-DD`` or ``YYYY-MM`` where the text
    gives no day, None where it gives only the year or nothing; when known, its year is ``year``.
    ``date_source`` says where they were read (``ingest.dates``): ``headnote``, or ``title, headnote``
    when the year and the full date came from two places.
    """

    doc_id: str
    title: str
    source: str
    text: str
    paragraphs: list[Paragraph]
    content_hash: str
    file_hash: str
    year: int | None = None
    level: str | None = None
    format: str = "txt"
    date: str | None = None
    date_source: str | None = None
    # How many documents the file holds (a compilation holds several): lets the store tell that
    # an article was removed while its file stayed the same.
    file_documents: int = 1


@dataclass
class Chunk:
    """A passage of a document: the unit that is embedded, stored and cited."""

    doc_id: str
    order: int
    text: str
    section: str
    start: int
    end: int
    page: int | None = None
    # A spreadsheet row's own 1-based number and its sheet's name ("" for a .csv).
    row: int | None = None
    sheet: str | None = None
