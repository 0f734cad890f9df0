"""Ingest files into the store, incrementally: unchanged files are skipped, changed ones replaced."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ingest.chunking import DEFAULT_CHUNK_SIZE, chunk_document, embedding_text
from ingest.errors import LoadError, XunshiError
from ingest.loaders import is_supported
from ingest.metadata import sha256_hex
from ingest.pipeline import load_documents
from vectorstore.store import ChunkStore, StoredDocument

log = logging.getLogger(__name__)


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


class Indexer:
    """Turns files into stored chunks with one embedding model and one store."""

    def __init__(self, store: ChunkStore, embeddings: Any, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 batch_size: int = 32, show_progress: bool = True) -> None:
        self.store = store
        self.embeddings = embeddings
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.show_progress = show_progress

    def _embed(self, texts: list[str], label: str) -> list[list[float]]:
        vectors: list[list[float]] = []
        step = self.batch_size * 4
        with tqdm(total=len(texts), desc=f"embedding {label}", unit="chunk", leave=False,
                  disable=not self.show_progress) as bar:
            for start in range(0, len(texts), step):
                part = texts[start : start + step]
                vectors.extend(self.embeddings.encode_documents(part).tolist())
                bar.update(len(part))
        return vectors

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
                data = path.read_bytes()
            except OSError as e:
                report.failed.append({"source": source, "error": f"cannot read: {e.strerror or e}"})
                continue
            file_hash = sha256_hex(data)
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
                documents = load_documents(path, file_hash)
                if not documents:
                    raise LoadError("no text left after cleaning")
            except XunshiError as e:
                report.failed.append({"source": source, "error": str(e)})
                log.debug("%s: %s", source, e)
                continue
            self._store_file(source, documents, stored, report)
            by_file_hash[file_hash] = source

        for folder in found.folders:
            report.removed += self._forget_vanished(folder, by_source)

        docs = self.store.documents()
        report.documents = len(docs)
        report.chunks = self.store.count()
        return report

    def _store_file(self, source: str, documents: list, stored: list[StoredDocument], report: IngestReport) -> None:
        known = {d.doc_id: d for d in stored}
        pieces = [(doc, chunk_document(doc, self.chunk_size)) for doc in documents]
        texts = [embedding_text(doc.title, c.section, c.text) for doc, chunks in pieces for c in chunks]
        vectors = self._embed(texts, Path(source).name)
        offset = 0
        for doc, chunks in pieces:
            self.store.put_document(doc, chunks, vectors[offset : offset + len(chunks)])
            offset += len(chunks)
            previous = known.pop(doc.doc_id, None)
            if previous is None:
                report.added += 1
            elif previous.content_hash == doc.content_hash and previous.complete:
                report.unchanged += 1
            else:
                report.updated += 1
        for gone in known:
            self.store.remove(gone)
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
