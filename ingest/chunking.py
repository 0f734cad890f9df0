"""Structure-aware chunking: chunks follow paragraphs, stay inside one section, split only at sentence ends."""

from __future__ import annotations

import re

from ingest.models import Chunk, Paragraph, SourceDocument
from ingest.structure import SectionTracker, parse_heading

DEFAULT_CHUNK_SIZE = 300
SECTION_SEPARATOR = " › "
# A paragraph up to this many times the target stays whole; a longer one is split at sentence ends.
LONG_PARAGRAPH_FACTOR = 1.5
# A "sentence" longer than this (tables, lists without punctuation) is cut at clause marks.
MAX_SENTENCE_FACTOR = 4
_SENTENCE = re.compile(r"[^。！？；!?;]*[。！？；!?;]+[”’』」）)》]*|[^。！？；!?;]+$")
_CLAUSE = re.compile(r"[^，、,]*[，、,]+|[^，、,]+$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text`` (ends at 。！？；, closing quotes kept with their sentence)."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def _bounded_sentences(text: str, size: int) -> list[tuple[int, int]]:
    spans = []
    for start, end in split_sentences(text):
        if end - start <= size * MAX_SENTENCE_FACTOR:
            spans.append((start, end))
            continue
        piece_start = start
        for m in _CLAUSE.finditer(text[start:end]):
            clause_end = start + m.end()
            if clause_end - piece_start >= size:
                spans.append((piece_start, clause_end))
                piece_start = clause_end
        if piece_start < end:
            spans.append((piece_start, end))
    return spans


def pack_sentences(text: str, size: int) -> list[tuple[int, int]]:
    """Group a long paragraph's sentences into pieces of about ``size`` characters.

    Each piece after the first repeats the last sentence of the piece before it.
    """
    sentences = _bounded_sentences(text, size)
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j][1] - sentences[i][0] <= size:
            j += 1
        pieces.append((sentences[i][0], sentences[j - 1][1]))
        if j >= len(sentences):
            break
        i = j - 1 if j - 1 > i else j
    return pieces


def chunk_document(doc: SourceDocument, size: int = DEFAULT_CHUNK_SIZE) -> list[Chunk]:
    """Cut a document into chunks that carry their section path and their span in ``doc.text``.

    Consecutive paragraphs of one section are packed up to ``size`` characters; a heading starts a
    new chunk; a long paragraph is split at sentence ends with a one-sentence overlap.
    """
    chunks: list[Chunk] = []
    tracker = SectionTracker()
    pending: list[Paragraph] = []

    def emit(start: int, end: int, page: int | None) -> None:
        chunks.append(
            Chunk(
                doc_id=doc.doc_id,
                order=len(chunks),
                text=doc.text[start:end],
                section=SECTION_SEPARATOR.join(tracker.path),
                start=start,
                end=end,
                page=page,
            )
        )

    def flush() -> None:
        if pending:
            emit(pending[0].start, pending[-1].start + len(pending[-1].text), pending[0].page)
            pending.clear()

    for para in doc.paragraphs:
        heading = parse_heading(para.text, para.heading_level)
        if heading is not None:
            flush()
            tracker.enter(heading)
            if not heading.run_in:
                continue
        if len(para.text) > size * LONG_PARAGRAPH_FACTOR:
            flush()
            for start, end in pack_sentences(para.text, size):
                emit(para.start + start, para.start + end, para.page)
            continue
        if pending and para.start + len(para.text) - pending[0].start > size:
            flush()
        pending.append(para)
    flush()
    return chunks


def embedding_text(title: str, section: str, text: str) -> str:
    """The text that is embedded for a chunk: "title / section / chunk"."""
    parts = [title, section, text] if section else [title, text]
    return " / ".join(parts)
