"""Re-embed every stored chunk and its sentences with the configured embedding model."""

from __future__ import annotations

import logging
from typing import Any

from tqdm import tqdm

from vectorstore.knowledge_bases import carry_over
from vectorstore.sentences import sentence_collection_name
from vectorstore.store import MAX_BATCH, ChunkStore

log = logging.getLogger(__name__)


def reindex(client: Any, collection: str, embeddings: Any, show_progress: bool = True) -> int:
    """Rebuild ``collection`` and its sentences with ``embeddings``; returns the number of chunks
    re-embedded.

    The chunks are copied into new collections first; the old ones are dropped only when the copy
    is complete, so an interrupted reindex leaves the old index as it was.
    """
    from vectorstore.indexing import Indexer

    staging = f"{collection}-reindex"
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    for name in (staging, sentence_collection_name(staging)):
        if name in names:
            client.delete_collection(name)
    old = ChunkStore(client, collection)
    new = ChunkStore(client, staging, embeddings.model_name, embeddings.dimension)
    indexer = Indexer(new, embeddings, show_progress=False)
    total = old.count()
    done = 0
    with tqdm(total=total, desc="re-embedding", unit="chunk", disable=not show_progress) as bar:
        batch: list[dict[str, Any]] = []
        for record in old.iter_records():
            batch.append(record)
            if len(batch) >= MAX_BATCH // 4:
                done += _copy(new, indexer, batch)
                bar.update(len(batch))
                batch = []
        if batch:
            done += _copy(new, indexer, batch)
            bar.update(len(batch))
    for name in (collection, sentence_collection_name(collection)):
        if name in names:
            client.delete_collection(name)
    new.sentences.collection.modify(name=sentence_collection_name(collection))
    new.collection.modify(name=collection)
    kept = carry_over(old.collection.metadata)  # a knowledge base keeps its name and description
    if kept:
        new.collection.modify(metadata={**(new.collection.metadata or {}), **kept})
    log.info("re-embedded %d chunks with %s", done, embeddings.model_name)
    return done


def _copy(new: ChunkStore, indexer: Any, records: list[dict[str, Any]]) -> int:
    for group, vectors, sentences in indexer.embed_records(records):
        new.collection.upsert(ids=[r["id"] for r in group], embeddings=vectors, documents=[r["text"] for r in group],
                              metadatas=[r["metadata"] for r in group])
        new.add_sentences(group, sentences)
    return len(records)
