"""The chunk store: one Chroma collection holds every chunk, its text, its embedding and its metadata.

Documents are not stored separately: a document is the set of chunks that share its ``doc_id``
and ``content_hash``, and every chunk carries the document's fields. A new version of a document is
written under new ids (they include the content hash) before the old version is deleted, so an
interrupted write never leaves a document with fewer chunks than before.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from chromadb.errors import NotFoundError

from ingest.errors import EmptyStoreError, StoreError, UnknownDocumentError
from ingest.models import Chunk, SourceDocument
from vectorstore.sentences import (SENTENCE_FORMAT, SENTENCE_MARK, SentenceIndex, chunk_of, collection_ids,
                                   sentence_records)

log = logging.getLogger(__name__)

# Chroma refuses larger batches; 5461 is its documented maximum for the embedded store.
MAX_BATCH = 2000
NO_PAGE = -1
NO_ROW = -1
# The sentences of one chunk: their spans in the chunk's text and their vectors (one row each).
ChunkSentences = tuple[Sequence[tuple[int, int]], np.ndarray]


@dataclass
class StoredDocument:
    """A document as the store knows it, aggregated from its chunks."""

    doc_id: str
    title: str
    source: str
    content_hash: str
    file_hash: str
    year: int | None
    level: str | None
    chunks: int
    expected_chunks: int
    added_at: str
    file_documents: int = 1
    versions: int = 1
    date: str | None = None

    @property
    def complete(self) -> bool:
        """True when exactly one version is stored and all of its chunks are there."""
        return self.versions == 1 and self.chunks == self.expected_chunks

    def as_dict(self) -> dict[str, Any]:
        """The fields shown by ``docs list --json``."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "year": self.year,
            "date": self.date,
            "level": self.level,
            "chunks": self.chunks,
            "content_hash": self.content_hash,
            "added_at": self.added_at,
        }


@dataclass
class Hit:
    """A chunk returned by a query, with its cosine similarity to the query."""

    chunk_id: str
    text: str
    metadata: dict[str, Any]
    score: float


def now() -> str:
    """The time stamp stored as ``added_at``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def chunk_id(doc: SourceDocument, chunk: Chunk) -> str:
    """Chunk ids include the content hash, so a new version never overwrites the old in place."""
    return f"{doc.doc_id}:{doc.content_hash[:12]}:{chunk.order:05d}"


def chunk_metadata(doc: SourceDocument, chunk: Chunk, total: int, added_at: str, sentences: int = 0) -> dict[str, Any]:
    """Everything stored beside a chunk's text (Chroma metadata values are scalars, never None)."""
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "source": doc.source,
        "content_hash": doc.content_hash,
        "file_hash": doc.file_hash,
        "year": doc.year if doc.year is not None else 0,
        # ISO YYYY-MM-DD or YYYY-MM, "" when unknown: sorts as text, newest last.
        "date": doc.date or "",
        "level": doc.level or "",
        "format": doc.format,
        "section": chunk.section,
        "order": chunk.order,
        "start": chunk.start,
        "end": chunk.end,
        "page": chunk.page if chunk.page is not None else NO_PAGE,
        "row": chunk.row if chunk.row is not None else NO_ROW,
        "sheet": chunk.sheet or "",
        "chunk_count": total,
        "file_documents": doc.file_documents,
        "added_at": added_at,
        "sentences": sentences,
    }


def _batches(items: Sequence[Any], size: int) -> Iterator[slice]:
    for start in range(0, len(items), size):
        yield slice(start, start + size)


class ChunkStore:
    """Chunks in a Chroma collection that records the embedding model it was built with, and the
    vectors of their sentences in a second collection beside it (``vectorstore.sentences``).

    Args:
        client: A Chroma client (``PersistentClient`` on a directory, or ``HttpClient``).
        collection: The collection's name.
        model_name: The embedding model's name, recorded in the collection and checked against
            it; None opens the store for listing and removing only.
        dimension: The embedding dimension, recorded and checked with the model name.
        read_only: Open for a reading command: create nothing, claim nothing (an empty collection
            stays unclaimed), and no sentence collection is made beside an older index.

    Raises:
        EmptyStoreError: read-only, and the collection does not exist (nothing was ever ingested).
    """

    def __init__(self, client: Any, collection: str, model_name: str | None = None,
                 dimension: int | None = None, read_only: bool = False) -> None:
        self.client = client
        self.name = collection
        self.model_name = model_name
        self.dimension = dimension
        self.read_only = read_only
        if read_only:
            try:
                self.collection = client.get_collection(collection, embedding_function=None)
            except NotFoundError as e:
                raise EmptyStoreError("nothing has been ingested yet: run `xunshi ingest PATH` first "
                                      "(see `xunshi docs list`)") from e
        else:
            self.collection = client.get_or_create_collection(
                collection,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=self._model_metadata() if model_name else None,
                embedding_function=None,
            )
        self.sentences = SentenceIndex(client, collection, create=not read_only)
        if model_name:
            self._check_model()

    def _model_metadata(self) -> dict[str, Any]:
        return {"embed_model": self.model_name, "embed_dim": self.dimension}

    def _check_model(self) -> None:
        meta = self.collection.metadata or {}
        stored_model, stored_dim = meta.get("embed_model"), meta.get("embed_dim")
        if self.collection.count() == 0 and (stored_model is None or meta.get(SENTENCE_MARK) != SENTENCE_FORMAT):
            # Empty, and opened before any model was known (e.g. by `docs remove` on a new home) or by
            # an older version: claim it now, for this model and with sentence vectors (a reading
            # command leaves that to the first writer).
            if self.read_only:
                return
            self.collection.modify(metadata={**meta, **self._model_metadata(), SENTENCE_MARK: SENTENCE_FORMAT})
            return
        if stored_model != self.model_name or stored_dim != self.dimension:
            raise StoreError(
                f"the index '{self.name}' was built with the embedding model '{stored_model}' "
                f"({stored_dim} dimensions), but XUNSHI_EMBED_MODEL is '{self.model_name}' "
                f"({self.dimension} dimensions). Run `xunshi reindex` to re-embed the stored chunks "
                f"with the configured model, or set XUNSHI_EMBED_MODEL={stored_model}."
            )

    # --- writing -------------------------------------------------------------------------------

    def put_document(self, doc: SourceDocument, chunks: list[Chunk], vectors: Sequence[Sequence[float]],
                     sentences: Sequence[ChunkSentences]) -> None:
        """Store a document's chunks and their sentences, then drop any other version of it.

        The new chunks are written first (under ids that include the content hash); only then are
        the old version's chunks deleted, so an interruption leaves either version complete.
        """
        self.write_chunks(doc, chunks, vectors, sentences, total=len(chunks), added_at=now())
        self.drop_other_versions(doc)

    def write_chunks(self, doc: SourceDocument, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]],
                     sentences: Sequence[ChunkSentences], total: int, added_at: str) -> None:
        """Write some of a version's chunks (``total`` in all) with their sentences; call
        ``drop_other_versions`` after the last.

        The sentences go first: a chunk is never stored without them. Sentences whose chunk an
        interruption kept from being written are found by ``sentence_gaps`` and deleted by the next
        ingest.
        """
        if len(chunks) != len(vectors) or len(chunks) != len(sentences):
            raise ValueError("one vector and one set of sentences per chunk")
        ids = [chunk_id(doc, c) for c in chunks]
        metas = [chunk_metadata(doc, c, total, added_at, len(spans)) for c, (spans, _) in zip(chunks, sentences)]
        self._write_sentences(ids, metas, [c.text for c in chunks], sentences)
        for part in _batches(ids, MAX_BATCH):
            self.collection.upsert(
                ids=ids[part],
                embeddings=np.asarray(vectors[part], dtype=np.float32),
                documents=[c.text for c in chunks[part]],
                metadatas=metas[part],
            )

    def _write_sentences(self, ids: list[str], metas: list[dict[str, Any]], texts: list[str],
                         sentences: Sequence[ChunkSentences]) -> None:
        all_ids: list[str] = []
        all_texts: list[str] = []
        all_metas: list[dict[str, Any]] = []
        vectors = []
        for cid, meta, text, (spans, vecs) in zip(ids, metas, texts, sentences):
            if len(spans) != len(vecs):
                raise ValueError("one vector per sentence")
            s_ids, s_texts, s_metas = sentence_records(cid, meta, text, spans)
            all_ids += s_ids
            all_texts += s_texts
            all_metas += s_metas
            if len(vecs):
                vectors.append(np.asarray(vecs, dtype=np.float32))
        if all_ids:
            self.sentences.upsert(all_ids, np.concatenate(vectors), all_texts, all_metas, MAX_BATCH)

    def drop_other_versions(self, doc: SourceDocument) -> None:
        """Delete the chunks (then their sentences) of every other version of ``doc``, once its own
        are all written."""
        other = {"$and": [{"doc_id": doc.doc_id}, {"content_hash": {"$ne": doc.content_hash}}]}
        self.collection.delete(where=other)
        self.sentences.delete_where(other)
        self._bump_revision()

    def remove(self, doc_id: str) -> int:
        """Delete every chunk of a document; returns how many there were."""
        found = self.collection.get(where={"doc_id": doc_id}, include=[])
        if not found["ids"]:
            raise UnknownDocumentError(f"no document with id '{doc_id}': see `xunshi docs list`")
        for part in _batches(found["ids"], MAX_BATCH):
            self.collection.delete(ids=found["ids"][part])
        self.sentences.delete_where({"doc_id": doc_id})
        self._bump_revision()
        return len(found["ids"])

    # --- the sentence index ----------------------------------------------------------------------

    @property
    def sentences_ready(self) -> bool:
        """Whether every chunk's sentences are stored in the current format (an empty store is)."""
        current = self.client.get_collection(self.name, embedding_function=None)
        if self.sentences.collection is None:  # read-only, beside an index older than sentence vectors
            return current.count() == 0
        return (current.metadata or {}).get(SENTENCE_MARK) == SENTENCE_FORMAT or current.count() == 0

    def require_sentences(self) -> None:
        """Refuse to search a store whose sentence vectors are missing or of another format.

        Raises:
            StoreError: The store was built before sentence vectors (or with another format); the
                message says how to bring it up to date.
        """
        if not self.sentences_ready:
            raise StoreError(
                f"the index '{self.name}' was built before sentence vectors were stored beside its "
                f"{self.count()} chunks, so it cannot be searched as it is. Run `xunshi reindex` once "
                "(it adds the sentence vectors; any `xunshi ingest` or `xunshi serve` does it too)."
            )

    def mark_sentences_ready(self) -> None:
        """Record that every chunk's sentences are stored (after a backfill)."""
        current = self.client.get_collection(self.name, embedding_function=None)
        self.collection.modify(metadata={**(current.metadata or {}), SENTENCE_MARK: SENTENCE_FORMAT})

    def chunk_ids(self) -> set[str]:
        """Every stored chunk id."""
        return set(collection_ids(self.collection, MAX_BATCH * 5))

    def chunk_cosines(self, ids: Sequence[str], vector: np.ndarray) -> dict[str, float]:
        """Cosine of stored chunks (unit vectors) to a unit ``vector``, by chunk id."""
        if not ids:
            return {}
        found = self.collection.get(ids=list(ids), include=["embeddings"])
        return {cid: float(np.asarray(v, dtype=np.float32) @ vector) for cid, v in zip(found["ids"], found["embeddings"])}

    def records(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Stored chunks by id as ``{"id", "text", "metadata"}``, in the order of ``ids``."""
        if not ids:
            return []
        found = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {cid: {"id": cid, "text": text, "metadata": meta}
                 for cid, text, meta in zip(found["ids"], found["documents"], found["metadatas"])}
        return [by_id[cid] for cid in ids if cid in by_id]

    def add_sentences(self, records: Sequence[dict[str, Any]], sentences: Sequence[ChunkSentences]) -> None:
        """Store the sentences of chunks already stored (a backfill), and their count with each chunk."""
        ids = [r["id"] for r in records]
        metas = [{**r["metadata"], "sentences": len(spans)} for r, (spans, _) in zip(records, sentences)]
        self._write_sentences(ids, metas, [r["text"] for r in records], sentences)
        for part in _batches(ids, MAX_BATCH):
            self.collection.update(ids=ids[part], metadatas=metas[part])

    def sentence_gaps(self) -> tuple[list[str], set[str]]:
        """(sentences whose chunk is not stored, chunks whose sentences are not stored), from one
        reading of each collection's ids."""
        chunks = self.chunk_ids()
        sentence_ids = list(self.sentences.ids())
        orphans = [sid for sid in sentence_ids if chunk_of(sid) not in chunks]
        return orphans, chunks - {chunk_of(sid) for sid in sentence_ids}

    def chunks_without_sentences(self) -> set[str]:
        """Chunks whose sentences are not stored (a store built before sentence vectors)."""
        return self.sentence_gaps()[1]

    def delete_sentences(self, sentence_ids: Sequence[str]) -> None:
        """Delete sentences by id (orphans left by an interrupted write or delete)."""
        if sentence_ids:
            log.info("removing %d sentences whose chunks are gone (a write was interrupted)", len(sentence_ids))
            self.sentences.delete_ids(sentence_ids, MAX_BATCH)

    def _bump_revision(self) -> None:
        """Mark the store as changed, for every process that derives caches from it."""
        current = self.client.get_collection(self.name, embedding_function=None)
        self.collection.modify(metadata={**(current.metadata or {}), "revision": uuid.uuid4().hex})

    # --- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of stored chunks."""
        return self.collection.count()

    def state(self) -> tuple[str, int]:
        """(revision, chunk count), read fresh: changes whenever any process writes to the store.

        The count backs up the revision: a writer that died between writing and marking still
        changed the count, or wrote chunks under ids that the next ingest completes anyway.
        """
        current = self.client.get_collection(self.name, embedding_function=None)
        return str((current.metadata or {}).get("revision", "")), current.count()

    def iter_records(self, where: dict | None = None, include_embeddings: bool = False,
                     containing: str | None = None) -> Iterable[dict[str, Any]]:
        """Every stored chunk as ``{"id", "text", "metadata"}`` (and ``"embedding"``), page by page;
        only those whose text contains ``containing`` when given (matched inside Chroma)."""
        where_document = {"$contains": containing} if containing else None
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        offset = 0
        while True:
            page = self.collection.get(where=where, where_document=where_document, include=include,
                                       limit=MAX_BATCH, offset=offset)
            if not page["ids"]:
                return
            for i, cid in enumerate(page["ids"]):
                record = {"id": cid, "text": page["documents"][i], "metadata": page["metadatas"][i]}
                if include_embeddings:
                    record["embedding"] = page["embeddings"][i]
                yield record
            offset += len(page["ids"])

    def documents(self) -> list[StoredDocument]:
        """The stored documents, sorted by title.

        Counted from the chunk ids alone (``doc_id:hash:order``: how many chunks and versions each
        document has), with the fields read from each version's first chunk; reading every chunk's
        metadata would cost memory and time in proportion to the whole store.
        """
        versions: dict[str, Counter[str]] = {}
        for cid in self.chunk_ids():
            doc_id, version, _ = cid.rsplit(":", 2)
            versions.setdefault(doc_id, Counter())[version] += 1
        heads: dict[str, dict[str, Any]] = {}
        for record in self.iter_records(where={"order": 0}):
            meta = record["metadata"]
            current = heads.get(meta["doc_id"])
            if current is None or meta["added_at"] > current["added_at"]:
                heads[meta["doc_id"]] = meta
        missing = [doc_id for doc_id in versions if doc_id not in heads]
        for doc_id in missing:  # a version cut short before its first chunk: rare, read one chunk
            found = self.collection.get(where={"doc_id": doc_id}, include=["metadatas"], limit=1)
            heads[doc_id] = found["metadatas"][0]
        docs = [
            StoredDocument(
                doc_id=doc_id,
                title=meta["title"],
                source=meta["source"],
                content_hash=meta["content_hash"],
                file_hash=meta["file_hash"],
                year=meta["year"] or None,
                level=meta["level"] or None,
                chunks=sum(versions[doc_id].values()),
                expected_chunks=meta["chunk_count"],
                added_at=meta["added_at"],
                file_documents=meta.get("file_documents", 1),
                versions=len(versions[doc_id]),
                date=meta.get("date") or None,
            )
            for doc_id, meta in heads.items()
            if doc_id in versions
        ]
        return sorted(docs, key=lambda d: (d.title, d.doc_id))

    def query(self, vector: Sequence[float], k: int, where: dict | None = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``vector`` that match ``where``, best first."""
        if k <= 0 or self.count() == 0:
            return []
        result = self.collection.query(
            query_embeddings=[list(map(float, vector))],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(chunk_id=cid, text=text, metadata=meta, score=1.0 - float(dist))
            for cid, text, meta, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def nearest(self, vector: Sequence[float], k: int, where: dict | None = None) -> list[tuple[str, float]]:
        """``(chunk_id, cosine)`` of the ``k`` chunks nearest to ``vector``: ids and distances only
        (Chroma returns fewer when it holds fewer; no count is asked, it would cost a round trip)."""
        if k <= 0:
            return []
        result = self.collection.query(query_embeddings=[list(map(float, vector))], n_results=k, where=where,
                                       include=["distances"])
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(result["ids"][0], result["distances"][0])]
