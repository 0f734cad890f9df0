"""Choose the hybrid fusion settings on a dev set: a grid over weights, RRF k and the phrase bonus.

    XUNSHI_HOME=... .venv/bin/python benchmarks/tune_fusion.py tests/data/dev/sample_qa.jsonl [more.jsonl]

The store under XUNSHI_HOME must hold the documents the questions are about. Dense and lexical
candidates are retrieved once per question; fusion is then replayed for every grid point.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path

from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                build_retriever, build_store)
from assistant.settings import Settings
from vectorstore.evaluate import first_hit_rank, load_questions, summarise
from vectorstore.search import passage_from_hit


def main() -> None:
    settings = Settings()
    apply_offline_environment(settings)
    embeddings = build_embeddings(settings)
    store = build_store(settings, build_chroma_client(settings), embeddings)
    retriever = build_retriever(settings, store, embeddings)
    depth = 50
    sets = []
    for path in sys.argv[1:]:
        questions = load_questions(Path(path))
        cands = [(q, retriever.dense(q.q, depth, None), retriever.lexical.search(q.q, depth)) for q in questions]
        sets.append((Path(path).name, cands))
    base = retriever.fusion
    rows = []
    grid = itertools.product([1.0], [0.0, 0.3, 0.5, 0.7, 1.0, 1.5], [5, 10, 20, 40, 60], [0.0, 0.5, 1.0, 2.0], [20, 30, 50])
    for dw, lw, rk, pb, dp in grid:
        retriever.fusion = replace(base, dense_weight=dw, lexical_weight=lw, rrf_k=rk, phrase_bonus=pb, depth=dp)
        metrics = []
        for _, cands in sets:
            ranks = []
            for q, dense, lexical in cands:
                fused = retriever._fuse(q.q, dense[:dp], lexical[:dp])
                passages = [passage_from_hit(h, r) for r, (h, *_rest) in enumerate(fused[:10], 1)]
                ranks.append(first_hit_rank(passages, q))
            metrics.append(summarise(ranks, 5))
        rows.append(((dw, lw, rk, pb, dp), metrics))
    for name, cands in sets:
        for mode, idx in (("dense", 1), ("lexical", 2)):
            ranks = [first_hit_rank([passage_from_hit(h, r) for r, h in enumerate(c[idx][:10], 1)], c[0])
                     for c in cands]
            print(name, mode, summarise(ranks, 5))
    rows.sort(key=lambda r: tuple(-sum(m[key] for m in r[1]) for key in ("recall@5", "mrr@10")))
    print("dense_w lexical_w rrf_k phrase depth | " + " | ".join(name for name, _ in sets))
    for params, metrics in rows[:15]:
        print(params, " | ".join(f"R@5 {m['recall@5']:.3f} MRR {m['mrr@10']:.3f} h@1 {m['hit@1']:.3f}" for m in metrics))


if __name__ == "__main__":
    main()
