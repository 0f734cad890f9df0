"""Files → documents. Each step is a pure function over data; ``ingest.chunking`` cuts the chunks."""

from __future__ import annotations

from pathlib import Path

from ingest.clean import build_paragraphs, drop_junk, is_junk
from ingest.compilation import split_compilation
from ingest.dates import DocumentDate, document_date
from ingest.metadata import detect_level, make_doc_id, sha256_hex
from ingest.models import LoadedFile, Paragraph, SourceDocument


def documents_from_loaded(loaded: LoadedFile, source: str, file_hash: str, fallback_title: str) -> list[SourceDocument]:
    """Clean a loaded file and split it into its articles (a spreadsheet: one document of its rows).

    ``fallback_title`` is the file's name without suffix: the title of an article that has none, and
    evidence of the date when the file holds a single article.
    """
    if any(line.row is not None for line in loaded.lines):
        return [ledger_document(loaded, source, file_hash, fallback_title)]
    documents = []
    articles = split_compilation(drop_junk(loaded.lines), fallback_title)
    # What dates the file (its name, its publication stamp) dates its article only when it has one.
    single = len(articles) == 1
    file_name = fallback_title if single else None
    furniture = [line.text.strip() for line in loaded.lines if single and line.text.strip() and is_junk(line.text)]
    for article in articles:
        paragraphs = build_paragraphs(article.lines)
        if not paragraphs:
            continue
        text = "\n".join(p.text for p in paragraphs)
        dated = document_date(article.title, text, file_name, furniture)
        documents.append(_document(article.title, paragraphs, text, source, file_hash, loaded.format, dated))
    for doc in documents:
        doc.file_documents = len(documents)
    return documents


def ledger_document(loaded: LoadedFile, source: str, file_hash: str, fallback_title: str) -> SourceDocument:
    """A spreadsheet as one document: one paragraph per data row, untouched by cleaning (a row is
    whole), titled by its title row or else ``fallback_title`` (the file name)."""
    title = loaded.title or fallback_title
    paragraphs, offset = [], 0
    for line in loaded.lines:
        paragraphs.append(Paragraph(text=line.text, start=offset, row=line.row, sheet=line.sheet))
        offset += len(line.text) + 1
    # Dated by its title or file name only: the dates in its rows are deadlines, not its issue.
    dated = document_date(title, "", fallback_title)
    text = "\n".join(p.text for p in paragraphs)
    return _document(title, paragraphs, text, source, file_hash, loaded.format, dated)


def _document(title: str, paragraphs: list[Paragraph], text: str, source: str, file_hash: str, fmt: str,
              dated: DocumentDate) -> SourceDocument:
    """The document of ``paragraphs`` (``text``: them joined by newlines): its id, hashes and level."""
    return SourceDocument(
        doc_id=make_doc_id(source, title),
        title=title,
        source=source,
        text=text,
        paragraphs=paragraphs,
        content_hash=sha256_hex(f"{title}\n{text}"),
        file_hash=file_hash,
        year=dated.year,
        date=dated.date,
        date_source=dated.sources,
        level=detect_level(title, text),
        format=fmt,
    )


def load_documents(path: Path, file_hash: str | None = None) -> list[SourceDocument]:
    """Read one file into its documents. Raises LoadError when the file cannot be used.

    Args:
        path: The file.
        file_hash: Its SHA-256 when the caller has already read it (the indexer hashes every
            file before deciding whether to load it).
    """
    from ingest.loaders import load_file  # loaders pull in format libraries; import on use

    path = path.resolve()
    loaded = load_file(path)
    return documents_from_loaded(loaded, str(path), file_hash or sha256_hex(path.read_bytes()), path.stem)

