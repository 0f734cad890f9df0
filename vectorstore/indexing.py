"""Ingest files into the store, incrementally: unchanged files are skipped, changed ones replaced."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ingest.chunking import DEFAULT_CHUNK_SIZE, chunk_document, embedding_text
from ingest.errors import LoadError, XunshiError
from ingest.loaders import is_supported
from ingest.models import Chunk, SourceDocument
from ingest.pipeline import load_documents
from ingest.sentences import sentence_embedding_text, sentence_spans
from ingest.stream import is_large_text, iter_large_text_chunks, scan_large_text
from vectorstore.store import ChunkSentences, ChunkStore, StoredDocument, now

log = logging.getLogger(__name__)


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
    except OSError:
        return None


_LIBC = _load_libc()


def release_freed_memory() -> None:
    """Hand freed heap pages back to the system. glibc keeps them for reuse, and with the model's
    and Chroma's threads each allocating in its own arena, a long run of batch writes would hold
    hundreds of MB it no longer uses."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


@dataclass
class IngestReport:
    """What an ingest run did, counted in documents (a compilation file holds several)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The ``xunshi ingest --json`` object."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "skipped": self.skipped,
            "documents": self.documents,
            "chunks": self.chunks,
        }


@dataclass
class FileList:
    """Files found under the given paths, and the paths that could not be used."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    unsupported_in_folders: list[Path] = field(default_factory=list)


def _hidden(name: str) -> bool:
    # Office lock files (~$x.docx) and dot files are never documents.
    return name.startswith((".", "~$"))


def collect_files(paths: Iterable[Path]) -> FileList:
    """Expand folders (recursively, sorted) into files."""
    found = FileList()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            found.files.append(resolved)

    for path in paths:
        if path.is_dir():
            found.folders.append(path.resolve())
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(_hidden(part) for part in child.relative_to(path).parts):
                    continue
                if is_supported(child):
                    add(child)
                else:
                    found.unsupported_in_folders.append(child.resolve())
        elif path.is_file():
            add(path)
        else:
            found.missing.append(path)
    return found


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Indexer:
    """Turns files into stored chunks with one embedding model and one store.

    Identical passages (a letterhead, a boilerplate paragraph repeated through a file) are embedded
    once per run: the last ``MEMO_SIZE`` embedded texts keep their vectors.
    """

    MEMO_SIZE = 4096
    # Chunks of a large text file embedded and written at a time.
    WRITE_BATCH = 512

    def __init__(self, store: ChunkStore, embeddings: Any, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 batch_size: int = 32, show_progress: bool = True) -> None:
        self.store = store
        self.embeddings = embeddings
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()

    def _embed(self, texts: list[str], label: str) -> np.ndarray:
        fresh: dict[str, np.ndarray] = {}
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        step = self.batch_size * 4
        with tqdm(total=len(missing), desc=f"embedding {label}", unit="text", leave=False,
                  disable=not self.show_progress or not missing) as bar:
            for start in range(0, len(missing), step):
                part = missing[start : start + step]
                fresh.update(zip(part, self.embeddings.encode_documents(part)))
                bar.update(len(part))
        vectors = np.stack([fresh[t] if t in fresh else self._memo[t] for t in texts]) if texts else np.zeros((0, 0))
        for text in texts:
            self._memo[text] = fresh.get(text, self._memo.get(text))
            self._memo.move_to_end(text)
        while len(self._memo) > self.MEMO_SIZE:
            self._memo.popitem(last=False)
        return vectors

    def embed_chunks(self, title: str, chunks: Sequence[tuple[str, str]], label: str
                     ) -> tuple[np.ndarray, list[ChunkSentences]]:
        """Vectors of chunks given as ``(section, text)`` of one document, and of their sentences:
        (one row per chunk, (spans, vectors) per chunk). One embedding pass for both."""
        spans = [sentence_spans(text) for _, text in chunks]
        texts = [embedding_text(title, section, text) for section, text in chunks]
        sentence_texts = [sentence_embedding_text(title, text[a:b]) for (_, text), sp in zip(chunks, spans)
                          for a, b in sp]
        vectors = self._embed(texts + sentence_texts, label)
        chunk_vectors, rest = vectors[: len(texts)], vectors[len(texts):]
        sentences: list[ChunkSentences] = []
        offset = 0
        for sp in spans:
            sentences.append((sp, rest[offset : offset + len(sp)]))
            offset += len(sp)
        return chunk_vectors, sentences

    def embed_records(self, records: Sequence[dict[str, Any]]
                      ) -> Iterator[tuple[list[dict[str, Any]], np.ndarray, list[ChunkSentences]]]:
        """Stored chunk records embedded again, a document title at a time: (records, chunk vectors,
        sentences) per title."""
        by_title: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_title.setdefault(record["metadata"]["title"], []).append(record)
        for title, group in by_title.items():
            vectors, sentences = self.embed_chunks(title, [(r["metadata"]["section"], r["text"]) for r in group],
                                                   "stored chunks")
            yield group, vectors, sentences

    def ensure_sentences(self) -> int:
        """Bring the sentence index in step with the chunks: delete sentences whose chunk is gone and
        add the sentences of chunks that lack them (a store built before sentence vectors, or a
        chunk whose sentences a concurrent writer's sweep took), with a progress bar; returns how
        many chunks were given sentences."""
        orphans, missing = self.store.sentence_gaps()
        self.store.delete_sentences(orphans)
        if missing:
            log.info("adding sentence vectors to %d stored chunks that lack them", len(missing))
        ordered = sorted(missing)
        with tqdm(total=len(ordered), desc="sentence vectors", unit="chunk",
                  disable=not self.show_progress or not ordered) as bar:
            for start in range(0, len(ordered), self.WRITE_BATCH):
                records = self.store.records(ordered[start : start + self.WRITE_BATCH])
                for group, _, sentences in self.embed_records(records):
                    self.store.add_sentences(group, sentences)
                bar.update(len(records))
                release_freed_memory()
        if not self.store.sentences_ready:
            self.store.mark_sentences_ready()
        return len(ordered)

    def ingest(self, paths: Iterable[Path]) -> IngestReport:
        """Ingest files and folders; a failing file is reported and the others go on."""
        report = IngestReport()
        found = collect_files(paths)
        for path in found.missing:
            report.failed.append({"source": str(path), "error": "no such file or directory"})
        for path in found.unsupported_in_folders:
            report.skipped.append({"source": str(path), "reason": "unsupported file type"})

        by_source: dict[str, list[StoredDocument]] = {}
        for doc in self.store.documents():
            by_source.setdefault(doc.source, []).append(doc)
        by_file_hash = {d.file_hash: d.source for docs in by_source.values() for d in docs}

        for path in tqdm(found.files, desc="files", unit="file", disable=not self.show_progress):
            source = str(path)
            try:
                file_hash = file_sha256(path)
            except OSError as e:
                report.failed.append({"source": source, "error": f"cannot read: {e.strerror or e}"})
                continue
            stored = by_source.get(source, [])
            if stored and len(stored) == stored[0].file_documents and all(
                d.file_hash == file_hash and d.complete for d in stored
            ):
                report.unchanged += len(stored)
                continue
            twin = by_file_hash.get(file_hash)
            if twin and twin != source and Path(twin).exists() and not stored:
                report.skipped.append({"source": source, "reason": f"same content as {twin}, not stored twice"})
                continue
            try:
                if is_large_text(path):
                    self._store_large_text(path, file_hash, stored, report)
                else:
                    documents = load_documents(path, file_hash)
                    if not documents:
                        raise LoadError("no text left after cleaning")
                    self._store_file(source, documents, stored, report)
            except XunshiError as e:
                report.failed.append({"source": source, "error": str(e)})
                log.debug("%s: %s", source, e)
                continue
            by_file_hash[file_hash] = source

        for folder in found.folders:
            report.removed += self._forget_vanished(folder, by_source)

        self.ensure_sentences()
        docs = self.store.documents()
        report.documents = len(docs)
        report.chunks = self.store.count()
        return report

    def _store_file(self, source: str, documents: list, stored: list[StoredDocument], report: IngestReport) -> None:
        known = {d.doc_id: d for d in stored}
        for doc in documents:
            chunks = chunk_document(doc, self.chunk_size)
            vectors, sentences = self.embed_chunks(doc.title, [(c.section, c.text) for c in chunks],
                                                   Path(source).name)
            self.store.put_document(doc, chunks, vectors, sentences)
            self._count(doc, known, report)
        self._forget(known, report)

    def _store_large_text(self, path: Path, file_hash: str, stored: list[StoredDocument],
                          report: IngestReport) -> None:
        """Store a text file too large to read whole: scanned once, then embedded and written in
        batches; the old version is dropped only after the last batch."""
        doc, total = scan_large_text(path, file_hash, self.chunk_size)
        log.info("%s: %.0f MB of text, read in parts: %d chunks", path.name, path.stat().st_size / 2**20, total)
        added_at = now()
        batch: list[Chunk] = []
        with tqdm(total=total, desc=f"storing {path.name}", unit="chunk", leave=False,
                  disable=not self.show_progress) as bar:
            for chunk in iter_large_text_chunks(path, doc, self.chunk_size):
                batch.append(chunk)
                if len(batch) == self.WRITE_BATCH:
                    self._write(doc, batch, total, added_at)
                    bar.update(len(batch))
                    batch = []
                    release_freed_memory()
            self._write(doc, batch, total, added_at)
            bar.update(len(batch))
        self.store.drop_other_versions(doc)
        known = {d.doc_id: d for d in stored}
        self._count(doc, known, report)
        self._forget(known, report)

    def _write(self, doc: SourceDocument, chunks: list[Chunk], total: int, added_at: str) -> None:
        if chunks:
            vectors, sentences = self.embed_chunks(doc.title, [(c.section, c.text) for c in chunks],
                                                   Path(doc.source).name)
            self.store.write_chunks(doc, chunks, vectors, sentences, total, added_at)

    @staticmethod
    def _count(doc: SourceDocument, known: dict[str, StoredDocument], report: IngestReport) -> None:
        """Count a stored document as added, unchanged or updated, and take it off ``known``."""
        previous = known.pop(doc.doc_id, None)
        if previous is None:
            report.added += 1
        elif previous.content_hash == doc.content_hash and previous.complete:
            report.unchanged += 1
        else:
            report.updated += 1

    def _forget(self, gone: dict[str, StoredDocument], report: IngestReport) -> None:
        """Remove the documents a file no longer holds."""
        for doc_id in gone:
            self.store.remove(doc_id)
            report.removed += 1

    def _forget_vanished(self, folder: Path, by_source: dict[str, list[StoredDocument]]) -> int:
        """Remove documents whose file under ``folder`` no longer exists."""
        removed = 0
        prefix = str(folder) + os.sep
        for source, docs in by_source.items():
            if source.startswith(prefix) and not Path(source).exists():
                for doc in docs:
                    self.store.remove(doc.doc_id)
                    removed += 1
        return removed
