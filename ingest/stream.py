"""Large text files, read in parts: memory stays bounded whatever the file's size.

A ``.txt`` or ``.md`` file over ``STREAM_BYTES`` is decoded block by block and cut into parts of
about ``PART_CHARS`` characters at paragraph breaks. Each part goes through the same cleaning and
chunking as a small file; the open headings carry over from one part to the next, so a chunk keeps
its section path across a cut. Such a file is one document: the 目录 of a compilation is dropped
but the file is not split into articles (that needs the whole file at once).

The file is read twice: ``scan_large_text`` counts the chunks and hashes the cleaned text (a
document's chunk ids and its expected chunk count are known before the first chunk is stored),
then ``iter_large_text_chunks`` yields the same chunks for embedding and storing in batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from ingest.chunking import chunk_document
from ingest.clean import build_paragraphs, drop_junk, ends_sentence, extract_toc
from ingest.compilation import detect_title
from ingest.errors import LoadError
from ingest.loaders import refuse_too_large
from ingest.loaders.text import stream_lines
from ingest.dates import document_date
from ingest.metadata import detect_level, make_doc_id
from ingest.models import Chunk, Line, SourceDocument
from ingest.structure import SectionTracker

STREAM_BYTES = 8 * 2**20
PART_CHARS = 200_000
# A part is cut at a blank line; without one, at a sentence end past twice the size, at any
# line past four times.
_SENTENCE_CUT, _ANY_CUT = 2, 4
_STREAMED_SUFFIXES = (".txt", ".md")


def is_large_text(path: Path) -> bool:
    """True for a .txt or .md file too big to be read whole."""
    return path.suffix.lower() in _STREAMED_SUFFIXES and path.stat().st_size > STREAM_BYTES


def _parts(lines: Iterable[Line], part_chars: int) -> Iterator[list[Line]]:
    part: list[Line] = []
    chars = 0
    for line in lines:
        if part and chars >= part_chars and (
            not line.text.strip()
            or (chars >= part_chars * _SENTENCE_CUT and ends_sentence(part[-1].text))
            or chars >= part_chars * _ANY_CUT
        ):
            yield part
            part, chars = [], 0
        part.append(line)
        chars += len(line.text) + 1
    if part:
        yield part


def _chunked_parts(path: Path, source: str, file_hash: str, size: int,
                   part_chars: int) -> Iterator[tuple[SourceDocument, list[Chunk]]]:
    """Each part as a document of its own text, with its chunks numbered and placed in the whole."""
    refuse_too_large(path.stat().st_size)
    tracker = SectionTracker()
    title = path.stem
    offset = order = 0
    for n, lines in enumerate(_parts(stream_lines(path), part_chars)):
        lines = drop_junk(lines)
        if n == 0:
            _, lines = extract_toc(lines)
            found, lines = detect_title(lines)
            title = found or title
        paragraphs = build_paragraphs(lines)
        if not paragraphs:
            continue
        text = "\n".join(p.text for p in paragraphs)
        part = SourceDocument(doc_id=make_doc_id(source, title), title=title, source=source, text=text,
                              paragraphs=paragraphs, content_hash="", file_hash=file_hash,
                              format=path.suffix.lower().lstrip("."))
        chunks = chunk_document(part, size, tracker)
        yield part, [replace(c, order=order + i, start=c.start + offset, end=c.end + offset)
                     for i, c in enumerate(chunks)]
        offset += len(text) + 1
        order += len(chunks)


def scan_large_text(path: Path, file_hash: str, size: int, part_chars: int = PART_CHARS) -> tuple[SourceDocument, int]:
    """Read a large text file once: its document (without text) and how many chunks it makes.

    The content hash covers the title and the cleaned text, as for a small file.

    Raises:
        LoadError: binary content, bytes that stop decoding, too large, or no text at all.
    """
    path = path.resolve()
    digest = hashlib.sha256()
    first: SourceDocument | None = None
    last_text = ""
    count = 0
    for part, chunks in _chunked_parts(path, str(path), file_hash, size, part_chars):
        last_text = part.text
        if first is None:
            first = part
            digest.update(f"{part.title}\n".encode())
        else:
            digest.update(b"\n")
        digest.update(part.text.encode())
        count += len(chunks)
    if first is None or not count:
        raise LoadError("no text left after cleaning")
    # The head of the first part holds the 题注, the foot of the last the 落款 and closing article.
    head_and_foot = first.text if last_text is first.text else f"{first.text}\n{last_text}"
    dated = document_date(first.title, head_and_foot, path.stem)
    doc = replace(first, text="", paragraphs=[], content_hash=digest.hexdigest(), year=dated.year, date=dated.date,
                  date_source=dated.sources, level=detect_level(first.title, first.text))
    return doc, count


def iter_large_text_chunks(path: Path, doc: SourceDocument, size: int, part_chars: int = PART_CHARS) -> Iterator[Chunk]:
    """The chunks of a large text file, part by part, as ``scan_large_text`` counted them."""
    for _, chunks in _chunked_parts(path.resolve(), doc.source, doc.file_hash, size, part_chars):
        yield from chunks
