"""Structure-aware chunking: chunks follow paragraphs, stay inside one section, split only at sentence ends."""

from __future__ import annotations

import re
from dataclasses import replace

from ingest.models import Chunk, Paragraph, SourceDocument
from ingest.structure import SectionTracker, outline

DEFAULT_CHUNK_SIZE = 300
SECTION_SEPARATOR = " › "
# A paragraph up to this many times the target stays whole; a longer one is split at sentence ends.
LONG_PARAGRAPH_FACTOR = 1.5
# A "sentence" longer than this (tables, lists without punctuation) is cut at clause marks.
MAX_SENTENCE_FACTOR = 4
# A chunk shorter than this share of the target is merged with a neighbour of its section.
MIN_CHUNK_FACTOR = 0.2
# A spreadsheet row up to this many times the target is one chunk, however short or long.
LONG_ROW_FACTOR = 4
_SENTENCE = re.compile(r"[^。！？；!?;]*[。！？；!?;]+[”’』」）)》]*|[^。！？；!?;]+$")
# Clause marks, and the cell borders of a table row ("a | b").
_CLAUSE = re.compile(r"[^，、,|]*[，、,|]+|[^，、,|]+$")


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

    Each piece after the first repeats the last sentence of the piece before it, when that
    sentence leaves room for more. No piece is left shorter than a fifth of ``size``: a short
    sentence before a long one goes with it, and a short last piece joins the one before.
    """
    sentences = _bounded_sentences(text, size)
    minimum = size * MIN_CHUNK_FACTOR
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j][1] - sentences[i][0] <= size:
            j += 1
        while j < len(sentences) and sentences[j - 1][1] - sentences[i][0] < minimum:
            j += 1
        pieces.append((sentences[i][0], sentences[j - 1][1]))
        if j >= len(sentences):
            break
        overlap = j - 1
        i = overlap if overlap > i and sentences[j][1] - sentences[overlap][0] <= size else j
    if len(pieces) >= 2 and pieces[-1][1] - pieces[-1][0] < minimum:
        pieces[-2:] = [(pieces[-2][0], pieces[-1][1])]
    return pieces


class _Packer:
    """Packs a document's body paragraphs into chunks; the caller says where sections begin."""

    def __init__(self, doc: SourceDocument, size: int, tracker: SectionTracker) -> None:
        self.doc, self.size, self.tracker = doc, size, tracker
        self.minimum = int(size * MIN_CHUNK_FACTOR)
        self.chunks: list[Chunk] = []
        self.pending: list[Paragraph] = []
        # Whether a pending paragraph opens a section of its own (a run-in or unnumbered heading).
        self.pending_heading = False

    @property
    def _pending_chars(self) -> int:
        if not self.pending:
            return 0
        return self.pending[-1].start + len(self.pending[-1].text) - self.pending[0].start

    def _short(self) -> bool:
        return bool(self.pending) and self._pending_chars < self.minimum

    def _emit(self, start: int, end: int, page: int | None) -> None:
        self.chunks.append(
            Chunk(
                doc_id=self.doc.doc_id,
                order=len(self.chunks),
                text=self.doc.text[start:end],
                section=SECTION_SEPARATOR.join(self.tracker.path),
                start=start,
                end=end,
                page=page,
            )
        )

    def _flush(self) -> None:
        if self.pending:
            last = self.pending[-1]
            self._emit(self.pending[0].start, last.start + len(last.text), self.pending[0].page)
            self._clear()

    def _clear(self) -> None:
        self.pending.clear()
        self.pending_heading = False

    def _extend_previous(self) -> bool:
        """Give a short tail to the chunk before it, when that chunk is of the same section, ends
        right before it and stays within bounds."""
        if not self.chunks or not self.pending:
            return False
        previous, last = self.chunks[-1], self.pending[-1]
        end = last.start + len(last.text)
        between = self.doc.text[previous.end : self.pending[0].start]
        section = SECTION_SEPARATOR.join(self.tracker.path)
        if previous.section != section or between.strip() or end - previous.start > self.size * LONG_PARAGRAPH_FACTOR:
            return False
        self.chunks[-1] = replace(previous, text=self.doc.text[previous.start : end], end=end)
        self._clear()
        return True

    def section_ends(self, opens_subsection: bool) -> None:
        """A heading follows: end the chunk, unless what is pending is too short to stand alone.

        A short introduction to the subsections below (the whole text of its section, or a lead-in
        ending in a colon such as "着力做好以下十一个方面工作：") is carried into the first chunk
        of the subsection; a short tail joins the chunk of its section before it; a short text
        that neither fits goes with the subsection when there is one.
        """
        if self._short():
            section = SECTION_SEPARATOR.join(self.tracker.path)
            started = bool(self.chunks) and self.chunks[-1].section == section
            carry = opens_subsection and not self.pending_heading
            lead_in = self.pending[-1].text.rstrip().endswith(("：", ":"))
            if carry and (lead_in or not started):
                return
            if started and self._extend_previous():
                return
            if carry:
                return
        self._flush()

    def add(self, para: Paragraph, opens_section: bool = False) -> None:
        """Add a body paragraph: packed with the ones before it, or split at sentence ends when long.

        ``opens_section`` marks a paragraph led by its own heading (run-in or unnumbered).
        """
        if len(para.text) > self.size * LONG_PARAGRAPH_FACTOR:
            lead = self.pending[0].start if self._short() else None
            if lead is None:
                self._flush()
            self._clear()
            for n, (start, end) in enumerate(pack_sentences(para.text, self.size)):
                begin = lead if n == 0 and lead is not None else para.start + start
                self._emit(begin, para.start + end, para.page)
            return
        if self.pending and para.start + len(para.text) - self.pending[0].start > self.size and not self._short():
            self._flush()
        self.pending.append(para)
        self.pending_heading = self.pending_heading or opens_section

    def finish(self) -> list[Chunk]:
        """The chunks, once the last paragraph has been added."""
        if not (self._short() and self._extend_previous()):
            self._flush()
        return self.chunks


def chunk_document(doc: SourceDocument, size: int = DEFAULT_CHUNK_SIZE,
                   tracker: SectionTracker | None = None) -> list[Chunk]:
    """Cut a document into chunks that carry their section path and their span in ``doc.text``.

    Consecutive paragraphs of one section are packed up to ``size`` characters; a heading starts a
    new chunk; a long paragraph is split at sentence ends with a one-sentence overlap. No chunk is
    left shorter than a fifth of ``size`` when a neighbour of the same section can take it: a
    short lead-in goes with what follows it, a short tail with what precedes it. In a regulation
    only 编/章/节 are headings; an unnumbered subheading opens a chunk and stays in its text.

    ``tracker`` carries the open headings from one part of a long document to the next
    (``ingest.stream``); by default the document starts outside any section.
    """
    if doc.paragraphs and doc.paragraphs[0].row is not None:
        return chunk_rows(doc, size)
    tracker = tracker or SectionTracker()
    packer = _Packer(doc, size, tracker)
    for para, heading in zip(doc.paragraphs, outline(doc.paragraphs)):
        if heading is not None:
            packer.section_ends(tracker.opens_subsection(heading))
            tracker.enter(heading)
            if not (heading.run_in or heading.soft):
                continue
        packer.add(para, opens_section=heading is not None)
    return packer.finish()


def chunk_rows(doc: SourceDocument, size: int = DEFAULT_CHUNK_SIZE) -> list[Chunk]:
    """One chunk per spreadsheet row, never merged with its neighbours: its section is its sheet's
    name, and it keeps its row number. A row over ``LONG_ROW_FACTOR`` times ``size`` is split at
    sentence ends, every piece keeping the row."""
    chunks: list[Chunk] = []
    for para in doc.paragraphs:
        whole = len(para.text) <= size * LONG_ROW_FACTOR
        for start, end in [(0, len(para.text))] if whole else pack_sentences(para.text, size):
            chunks.append(Chunk(doc_id=doc.doc_id, order=len(chunks), text=para.text[start:end],
                                section=para.sheet or "", start=para.start + start, end=para.start + end,
                                row=para.row, sheet=para.sheet))
    return chunks


def embedding_text(title: str, section: str, text: str) -> str:
    """The text that is embedded for a chunk: "title / section / chunk"."""
    parts = [title, section, text] if section else [title, text]
    return " / ".join(parts)
