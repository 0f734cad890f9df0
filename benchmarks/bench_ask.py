"""Warm in-process latency of the answer step (extractive ask, draft, precedents): p50/p95 and memory.

    .venv/bin/python benchmarks/bench_ask.py --home DIR [--questions tests/data/dev/sample_qa.jsonl]

DIR is a xunshi home with a corpus ingested (e.g. `XUNSHI_HOME=DIR xunshi ingest examples/`). Each question is
asked once to warm up, then timed; the query-vector memo is cleared before every timed call so that each one
pays for its embedding.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--questions", default=str(ROOT / "tests/data/dev/sample_qa.jsonl"))
    args = parser.parse_args()

    from assistant.draft import write_draft
    from assistant.precedents import find_precedents
    from assistant.services import (apply_offline_environment, build_answerer, build_chroma_client,
                                    build_embeddings, build_retriever, build_store)
    from assistant.settings import Settings

    settings = Settings(home=args.home, llm_base_url=None)
    apply_offline_environment(settings)
    embeddings = build_embeddings(settings)
    store = build_store(settings, build_chroma_client(settings), embeddings)
    retriever = build_retriever(settings, store, embeddings)
    answerer = build_answerer(settings, retriever, embeddings)
    questions = [json.loads(line)["q"] for line in Path(args.questions).read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    jobs = {
        "ask (extractive)": lambda q: answerer.ask(q),
        "draft (extractive)": lambda q: write_draft(answerer, q),
        "precedents": lambda q: find_precedents(retriever, q, settings.relevance_threshold),
    }
    print(f"{len(questions)} questions, {store.count()} chunks, warm, in one process")
    print("| job | p50 ms | p95 ms | RSS MB |")
    print("|---|---|---|---|")
    for name, job in jobs.items():
        for q in questions[:5]:
            job(q)
        times = []
        for q in questions:
            embeddings.forget_recent_queries()
            t0 = time.perf_counter()
            job(q)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"| {name} | {statistics.median(times):.0f} | {percentile(times, 0.95):.0f} | {rss_mb():.0f} |")


if __name__ == "__main__":
    main()
