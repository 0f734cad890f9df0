"""Warm in-process search latency (p50/p95 over 200 queries) and memory, per retriever and corpus size.

    .venv/bin/python benchmarks/bench_search.py --source-home DIR [--sizes 0,20000] [--queries 200]

DIR is a xunshi home that already holds an ingested corpus (e.g. the public corpus:
`XUNSHI_HOME=DIR xunshi ingest ../shared/corpus/public`). Size 0 means that corpus as it is; a larger
size is built by copying its chunks (text and metadata as they are, each vector with a little noise,
renormalised) until the store holds that many chunks, so that no re-embedding is needed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def questions(limit: int) -> list[str]:
    qs = []
    for name in ("sample_qa.jsonl", "public_qa.jsonl", "negatives.jsonl"):
        for line in (ROOT / "tests" / "data" / "dev" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                qs.append(json.loads(line)["q"])
    return [qs[i % len(qs)] for i in range(limit)]


def latencies(retriever, embeddings, qs: list[str], mode: str, warm: int = 10) -> list[float]:
    """Milliseconds per query, sorted, after ``warm`` untimed ones; every timed query is embedded anew."""
    for q in qs[:warm]:
        retriever.search(q, k=5, mode=mode)
    times = []
    for q in qs:
        embeddings.forget_recent_queries()
        t0 = time.perf_counter()
        retriever.search(q, k=5, mode=mode)
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)


def _sentences_by_chunk(source_store) -> dict[str, list[tuple[str, str, dict, list[float]]]]:
    found = source_store.sentences.collection.get(include=["documents", "metadatas", "embeddings"])
    out: dict[str, list] = {}
    for sid, text, meta, vector in zip(found["ids"], found["documents"], found["metadatas"], found["embeddings"]):
        out.setdefault(meta["chunk_id"], []).append((sid, text, meta, vector))
    return out


def _copy_sentences(target_store, batch, sentences, round_: int, rng) -> None:
    rows = [(f"{r['id']}~{round_}:{sid.rsplit(':', 1)[1]}", text, {**meta, "chunk_id": f"{r['id']}~{round_}"}, vector)
            for r in batch for sid, text, meta, vector in sentences.get(r["id"], [])]
    vectors = np.array([row[3] for row in rows], dtype=np.float32)
    if round_:
        vectors += rng.normal(0, 0.02, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, len(rows), 2000):
        part = rows[start : start + 2000]
        target_store.sentences.collection.upsert(ids=[r[0] for r in part], documents=[r[1] for r in part],
                                                 metadatas=[r[2] for r in part], embeddings=vectors[start : start + 2000])


def disk_kb_per_chunk(home: Path, chunks: int) -> float:
    """Size of the store's files under ``home`` (Chroma and the lexical cache) per chunk."""
    total = sum(p.stat().st_size for p in Path(home).rglob("*") if p.is_file() and "models" not in p.parts)
    return total / 1024 / max(chunks, 1)


def build_copy(source_store, target_store, size: int, seed: int = 0) -> None:
    """Fill ``target_store`` with copies of the source's chunks and their sentences (noisy vectors)."""
    rng = np.random.default_rng(seed)
    records = list(source_store.iter_records(include_embeddings=True))
    sentences = _sentences_by_chunk(source_store)
    made, round_ = 0, 0
    while made < size:
        batch = records[: size - made]
        vectors = np.array([r["embedding"] for r in batch], dtype=np.float32)
        if round_:
            vectors += rng.normal(0, 0.02, vectors.shape).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        _copy_sentences(target_store, batch, sentences, round_, rng)
        for start in range(0, len(batch), 2000):
            part = slice(start, start + 2000)
            target_store.collection.upsert(
                ids=[f"{r['id']}~{round_}" for r in batch[part]],
                embeddings=vectors[part].tolist(),
                documents=[r["text"] for r in batch[part]],
                metadatas=[r["metadata"] for r in batch[part]],
            )
        made += len(batch)
        round_ += 1
    target_store._bump_revision()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source-home", type=Path, required=True)
    parser.add_argument("--sizes", default="0,20000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                    build_retriever, build_store)
    from assistant.settings import Settings

    source = Settings(home=args.source_home)
    apply_offline_environment(source)
    embeddings = build_embeddings(source)
    source_store = build_store(source, build_chroma_client(source), embeddings)
    qs = questions(args.queries)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            if size:
                settings = Settings(home=home, models_dir=source.models_path)
                store = build_store(settings, build_chroma_client(settings), embeddings)
                t0 = time.perf_counter()
                build_copy(source_store, store, size)
                build_s = time.perf_counter() - t0
            else:
                settings, store, build_s = source, source_store, 0.0
            retriever = build_retriever(settings, store, embeddings)
            t0 = time.perf_counter()
            retriever.lexical.ensure_current()
            lexical_build_s = time.perf_counter() - t0
            for mode in ("lexical", "dense", "hybrid"):
                times = latencies(retriever, embeddings, qs, mode)
                rows.append((store.count(), mode, statistics.median(times), times[int(0.95 * len(times)) - 1],
                             rss_mb(), build_s, lexical_build_s,
                             disk_kb_per_chunk(Path(home) if size else source.home_dir, store.count())))
    print(f"{args.queries} warm queries per row, k=5, in one process")
    print("| chunks | retriever | p50 ms | p95 ms | RSS MB | store build s | lexical build s | disk KB/chunk |")
    print("|---|---|---|---|---|---|---|---|")
    for n, mode, p50, p95, rss, build_s, lex_s, disk in rows:
        print(f"| {n} | {mode} | {p50:.1f} | {p95:.1f} | {rss:.0f} | {build_s:.0f} | {lex_s:.1f} | {disk:.1f} |")


if __name__ == "__main__":
    main()
