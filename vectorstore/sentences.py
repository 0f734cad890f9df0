"""Sentence vectors beside the chunks: a second Chroma collection, one record per sentence of a chunk.

A sentence record's id is ``<chunk id>:<index>`` and its metadata names its chunk, its document
and version, and its character span in the chunk's text; the record's text is the sentence itself.
The chunk store writes a chunk's sentences before the chunk and deletes them after it, so a stored
chunk always has its sentences; what an interrupted command leaves behind (sentences whose chunk
was never written, or was deleted) is deleted by the next ingest, which also gives any chunk that
lacks its sentences (a store built before them) its sentences.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chromadb.errors import NotFoundError

from ingest.sentences import sentence_spans

# The chunk collection's metadata key that says its sentence index is complete, and the format of
# what was embedded for each sentence ("title / sentence"): a store without it (built before
# sentence vectors, or with another format) must be brought up to date before it is searched.
SENTENCE_MARK = "sentence_index"
SENTENCE_FORMAT = "title/sentence-v1"
SUFFIX = "__sentences"
PAGE = 5000
SPAN_CACHE = 20_000


@dataclass
class SentenceHit:
    """A stored sentence near a query: its id, its chunk and its cosine similarity."""

    sentence_id: str
    chunk_id: str
    score: float


def sentence_collection_name(chunk_collection: str) -> str:
    """The name of the sentence collection that goes with a chunk collection."""
    return chunk_collection + SUFFIX


def sentence_id(chunk_id: str, index: int) -> str:
    """The id of the ``index``-th sentence of a chunk."""
    return f"{chunk_id}:{index:03d}"


def chunk_of(sentence_record_id: str) -> str:
    """The chunk id inside a sentence id."""
    return sentence_record_id.rsplit(":", 1)[0]


def collection_ids(collection: Any, page: int = PAGE) -> Iterator[str]:
    """Every record id of a Chroma collection, read page by page (ids only)."""
    offset = 0
    while True:
        found = collection.get(include=[], limit=page, offset=offset)
        if not found["ids"]:
            return
        yield from found["ids"]
        offset += len(found["ids"])


class SentenceIndex:
    """The sentence collection of one chunk collection.

    Args:
        client: The Chroma client that holds the chunk collection.
        chunk_collection: The chunk collection's name.
        create: Create the collection if it is missing; without it (a reading command beside an
            index older than sentence vectors) ``collection`` is None and nothing is found.
    """

    def __init__(self, client: Any, chunk_collection: str, create: bool = True) -> None:
        self.client = client
        self.name = sentence_collection_name(chunk_collection)
        # Sentence spans of recently scored chunks (a chunk id never changes its text).
        self._span_cache: dict[str, list[tuple[int, int]]] = {}
        self.collection: Any = None
        if create:
            self.collection = client.get_or_create_collection(
                self.name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        else:
            with contextlib.suppress(NotFoundError):
                self.collection = client.get_collection(self.name, embedding_function=None)

    def upsert(self, ids: list[str], vectors: np.ndarray, texts: list[str], metadatas: list[dict[str, Any]],
               batch: int) -> None:
        """Write sentence records, ``batch`` at a time."""
        for start in range(0, len(ids), batch):
            part = slice(start, start + batch)
            self.collection.upsert(ids=ids[part], embeddings=np.asarray(vectors[part], dtype=np.float32),
                                   documents=texts[part], metadatas=metadatas[part])

    def delete_where(self, where: dict) -> None:
        """Delete the sentences that match a metadata filter."""
        self.collection.delete(where=where)

    def delete_ids(self, ids: Sequence[str], batch: int) -> None:
        """Delete sentences by id."""
        for start in range(0, len(ids), batch):
            self.collection.delete(ids=list(ids[start : start + batch]))

    def ids(self) -> Iterator[str]:
        """Every sentence id."""
        return collection_ids(self.collection) if self.collection is not None else iter(())

    def query(self, vector: Sequence[float], k: int, where: dict | None = None) -> list[SentenceHit]:
        """The ``k`` sentences nearest to ``vector`` (metadata filter ``where``), best first. Ids and
        distances only: reading the records' text and metadata would cost more than the search."""
        if k <= 0 or self.collection is None:
            return []
        result = self.collection.query(query_embeddings=[list(map(float, vector))], n_results=k, where=where,
                                       include=["distances"])
        return [SentenceHit(sid, chunk_of(sid), 1.0 - float(dist))
                for sid, dist in zip(result["ids"][0], result["distances"][0])]

    def _spans(self, chunk_id: str, text: str) -> list[tuple[int, int]]:
        spans = self._span_cache.get(chunk_id)
        if spans is None:
            spans = self._span_cache[chunk_id] = sentence_spans(text)
            if len(self._span_cache) > SPAN_CACHE:
                self._span_cache.pop(next(iter(self._span_cache)))
        return spans

    def of_chunks(self, chunks: Sequence[tuple[str, str]]) -> list[tuple[str, str, int, int, np.ndarray]]:
        """The sentences of chunks given as ``(chunk_id, text)``, with their stored vectors:
        ``(chunk_id, sentence, start, end, vector)`` in chunk and sentence order. The spans are cut
        from the text again (the same cut as at ingest; ``SENTENCE_FORMAT`` changes if it ever does),
        so only the vectors are read from the store."""
        spans = {cid: self._spans(cid, text) for cid, text in chunks}
        ids = [sentence_id(cid, i) for cid, _ in chunks for i in range(len(spans[cid]))]
        if not ids or self.collection is None:
            return []
        found = self.collection.get(ids=ids, include=["embeddings"])
        vectors = dict(zip(found["ids"], found["embeddings"]))
        rows = []
        for cid, text in chunks:
            for i, (start, end) in enumerate(spans[cid]):
                vector = vectors.get(sentence_id(cid, i))
                if vector is not None:
                    rows.append((cid, text[start:end], start, end, np.asarray(vector, dtype=np.float32)))
        return rows


def sentence_records(chunk_id: str, chunk_meta: dict[str, Any], text: str,
                     spans: Iterable[tuple[int, int]]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(ids, texts, metadatas) of a chunk's sentences, carrying the chunk's filter fields."""
    ids, texts, metas = [], [], []
    for i, (start, end) in enumerate(spans):
        ids.append(sentence_id(chunk_id, i))
        texts.append(text[start:end])
        metas.append({
            "chunk_id": chunk_id,
            "doc_id": chunk_meta["doc_id"],
            "content_hash": chunk_meta["content_hash"],
            "year": chunk_meta.get("year", 0),
            "level": chunk_meta.get("level", ""),
            "start": start,
            "end": end,
        })
    return ids, texts, metas
