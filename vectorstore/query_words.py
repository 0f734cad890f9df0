"""jieba's word frequencies on disk, for segmenting queries without loading jieba's dictionary.

jieba keeps its dictionary (~350k words and their prefixes) in one Python dict that it reads
whole before the first cut: ~0.45 s of a cold search that has 1.5 s in all. A query is a few
dozen characters and jieba's segmentation only ever asks for the frequencies of its substrings,
so for queries the same dictionary is read from an SQLite table, a few hundred lookups per query.
The table is written from the full dictionary (domain words included) of the process that builds
the lexical index, so queries are cut exactly as chunks are: tests compare the two cuts.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

_MISSING = object()


class StoredFrequencies:
    """The part of ``dict`` that jieba uses on its ``FREQ``, read from a table written by ``save_frequencies``."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._seen: dict[str, Any] = {}
        (self.total,) = self._db.execute("SELECT value FROM facts WHERE name = 'total'").fetchone()

    def get(self, word: str, default: Any = None) -> Any:
        found = self._seen.get(word, _MISSING)
        if found is _MISSING:
            with self._lock:
                row = self._db.execute("SELECT freq FROM words WHERE word = ?", (word,)).fetchone()
            found = None if row is None else row[0]
            if len(self._seen) > 200_000:
                self._seen.clear()
            self._seen[word] = found
        return default if found is None else found

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        found = self.get(word)
        if found is None:
            raise KeyError(word)
        return found


def save_frequencies(frequencies: dict[str, int], total: int, path: Path) -> None:
    """Write jieba's ``FREQ`` and ``total`` to ``path`` (atomically: readers see none or all of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".sqlite.part")
    os.close(fd)
    try:
        db = sqlite3.connect(tmp)
        with db:
            db.execute("CREATE TABLE words (word TEXT PRIMARY KEY, freq INTEGER NOT NULL) WITHOUT ROWID")
            db.execute("CREATE TABLE facts (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            db.executemany("INSERT INTO words VALUES (?, ?)", frequencies.items())
            db.execute("INSERT INTO facts VALUES ('total', ?)", (total,))
        db.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def query_segmenter(path: Path) -> Any:
    """A ``jieba.Tokenizer`` that reads its dictionary from ``path`` instead of loading it."""
    import jieba

    frequencies = StoredFrequencies(path)
    segmenter = jieba.Tokenizer()
    segmenter.FREQ, segmenter.total, segmenter.initialized = frequencies, frequencies.total, True
    return segmenter
