"""Re-embed every stored chunk with another embedding model."""

from __future__ import annotations

import logging
from typing import Any

from tqdm import tqdm

from vectorstore.store import MAX_BATCH, ChunkStore

log = logging.getLogger(__name__)


def reindex(client: Any, collection: str, embeddings: Any, show_progress: bool = True) -> int:
    """Rebuild ``collection`` with ``embeddings``; returns the number of chunks re-embedded.

    The chunks are copied into a new collection first; the old one is dropped only when the copy
    is complete, so an interrupted reindex leaves the old index as it was.
    """
    staging = f"{collection}-reindex"
    if staging in {c if isinstance(c, str) else c.name for c in client.list_collections()}:
        client.delete_collection(staging)
    old = ChunkStore(client, collection)
    new = ChunkStore(client, staging, embeddings.model_name, embeddings.dimension)
    total = old.count()
    done = 0
    with tqdm(total=total, desc="re-embedding", unit="chunk", disable=not show_progress) as bar:
        batch: list[dict[str, Any]] = []
        for record in old.iter_records():
            batch.append(record)
            if len(batch) >= MAX_BATCH:
                done += _copy(new, batch, embeddings)
                bar.update(len(batch))
                batch = []
        if batch:
            done += _copy(new, batch, embeddings)
            bar.update(len(batch))
    client.delete_collection(collection)
    new.collection.modify(name=collection)
    log.info("re-embedded %d chunks with %s", done, embeddings.model_name)
    return done


def _copy(new: ChunkStore, records: list[dict[str, Any]], embeddings: Any) -> int:
    vectors = embeddings.encode_documents(new.embedding_texts(records))
    new.collection.upsert(
        ids=[r["id"] for r in records],
        embeddings=vectors.tolist(),
        documents=[r["text"] for r in records],
        metadatas=[r["metadata"] for r in records],
    )
    return len(records)
