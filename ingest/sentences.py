"""Sentences of a chunk: the unit that sentence vectors, answers and highlights are made of.

A chunk of ~300 characters holds several statements; a question is usually about one of them. Each
sentence is a span of the chunk's text (``chunk.text[start:end]`` is the sentence, verbatim), cut
after 。！？；!?; (closing quotes stay with their sentence) and at line breaks. A fragment too short
to mean anything on its own (a heading's number, ``一是``) joins the sentence after it.
"""

from __future__ import annotations

import re

# A sentence ends after 。！？；!?; and any closing quotes or brackets, or at a line break.
_SENTENCE = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’』」）)》]*|\n+|$)")
_CONTENT = re.compile(r"[\w\u4e00-\u9fff]")
# A piece with fewer content characters than this is a fragment, not a sentence.
MIN_SENTENCE_CHARS = 6


def content_length(text: str) -> int:
    """Letters, digits and Chinese characters in ``text`` (what a sentence is made of)."""
    return len(_CONTENT.findall(text))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the sentences of ``text``, stripped of surrounding whitespace.

    Every non-blank text has at least one span; short fragments join the sentence that follows
    them (the last one joins the sentence before it).
    """
    raw: list[tuple[int, int]] = []
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            raw.append((start, end))
    spans: list[tuple[int, int]] = []
    pending: int | None = None  # start of a fragment waiting for the next sentence
    for start, end in raw:
        if pending is not None:
            start, pending = pending, None
        if content_length(text[start:end]) < MIN_SENTENCE_CHARS:
            pending = start
            continue
        spans.append((start, end))
    if pending is not None:
        if spans:
            spans[-1] = (spans[-1][0], raw[-1][1])
        else:
            spans.append((pending, raw[-1][1]))
    return spans


def sentence_embedding_text(title: str, sentence: str) -> str:
    """The text embedded for a sentence: its document's title, then the sentence."""
    return f"{title} / {sentence}" if title else sentence
