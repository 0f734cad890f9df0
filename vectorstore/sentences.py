"""Sentence vectors beside the chunks: a second Chroma collection, one record per sentence of a chunk.

A sentence record's id is ``<chunk id>:<index>`` and its metadata names its chunk, its document
and version, and its character span in the chunk's text; the record's text is the sentence itself.
The chunk store writes a chunk's sentences before the chunk and deletes them after it, so a stored
chunk always has its sentences; what an interrupted command leaves behind (sentences whose chunk
was never written, or was deleted) is swept by the next command that writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The chunk collection's metadata key that says its sentence index is complete, and the format of
# what was embedded for each sentence ("title / sentence"): a store without it (built before
# sentence vectors, or with another format) must be brought up to date before it is searched.
SENTENCE_MARK = "sentence_index"
SENTENCE_FORMAT = "title/sentence-v1"
SUFFIX = "__sentences"
PAGE = 5000


@dataclass
class SentenceHit:
    """A sentence of a stored chunk, with its cosine similarity to a query."""

    sentence_id: str
    chunk_id: str
    text: str
    start: int
    end: int
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


def version_of(record_id: str) -> str:
    """``doc_id:hash`` of a chunk id or a sentence id (both start with it)."""
    doc_id, version = record_id.split(":", 2)[:2]
    return f"{doc_id}:{version}"


class SentenceIndex:
    """The sentence collection of one chunk collection.

    Args:
        client: The Chroma client that holds the chunk collection.
        chunk_collection: The chunk collection's name.
    """

    def __init__(self, client: Any, chunk_collection: str) -> None:
        self.client = client
        self.name = sentence_collection_name(chunk_collection)
        self.collection = client.get_or_create_collection(
            self.name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    def count(self) -> int:
        """Number of stored sentences."""
        return self.collection.count()

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
        """Every sentence id, page by page."""
        offset = 0
        while True:
            page = self.collection.get(include=[], limit=PAGE, offset=offset)
            if not page["ids"]:
                return
            yield from page["ids"]
            offset += len(page["ids"])

    def chunk_ids(self) -> set[str]:
        """The chunks that have sentences stored."""
        return {chunk_of(sid) for sid in self.ids()}

    def query(self, vector: Sequence[float], k: int, where: dict | None = None) -> list[SentenceHit]:
        """The ``k`` sentences nearest to ``vector`` (metadata filter ``where``), best first."""
        if k <= 0 or self.count() == 0:
            return []
        result = self.collection.query(query_embeddings=[list(map(float, vector))], n_results=k, where=where,
                                       include=["documents", "metadatas", "distances"])
        return [
            SentenceHit(sid, meta["chunk_id"], text, int(meta["start"]), int(meta["end"]), 1.0 - float(dist))
            for sid, text, meta, dist in zip(result["ids"][0], result["documents"][0], result["metadatas"][0],
                                             result["distances"][0])
        ]

    def of_chunks(self, chunk_ids: Sequence[str]) -> list[tuple[str, str, int, int, np.ndarray]]:
        """The sentences of the given chunks with their vectors: ``(chunk_id, text, start, end,
        vector)``, in chunk and sentence order."""
        if not chunk_ids:
            return []
        found = self.collection.get(where={"chunk_id": {"$in": list(chunk_ids)}},
                                    include=["documents", "metadatas", "embeddings"])
        rows = sorted(zip(found["ids"], found["documents"], found["metadatas"], found["embeddings"]),
                      key=lambda row: row[0])
        order = {cid: i for i, cid in enumerate(chunk_ids)}
        rows.sort(key=lambda row: order[row[2]["chunk_id"]])
        return [(meta["chunk_id"], text, int(meta["start"]), int(meta["end"]), np.asarray(vec, dtype=np.float32))
                for _, text, meta, vec in rows]


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
