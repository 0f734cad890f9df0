"""Checks of a store's invariants that several test modules share."""

from __future__ import annotations


def assert_sentences_in_step(store) -> int:
    """Every stored chunk has all its sentences, each the exact span of its chunk's text, and no
    sentence is left whose chunk is gone; the store says its sentence index is complete.
    Returns the number of sentences."""
    chunks = {r["id"]: r for r in store.iter_records()}
    found = store.sentences.collection.get(include=["documents", "metadatas"])
    per_chunk: dict[str, int] = {}
    for sid, text, meta in zip(found["ids"], found["documents"], found["metadatas"]):
        assert meta["chunk_id"] in chunks, f"orphan sentence {sid}"
        assert sid.startswith(meta["chunk_id"] + ":")
        chunk = chunks[meta["chunk_id"]]
        assert chunk["text"][meta["start"]:meta["end"]] == text
        assert meta["doc_id"] == chunk["metadata"]["doc_id"]
        per_chunk[meta["chunk_id"]] = per_chunk.get(meta["chunk_id"], 0) + 1
    for cid, record in chunks.items():
        assert per_chunk.get(cid, 0) == record["metadata"]["sentences"] >= 1, f"chunk {cid} lacks sentences"
    assert store.sentences_ready
    return len(found["ids"])
