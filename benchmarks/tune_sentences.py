"""Choose how sentence vectors enter the ranking and the "not found" decision, by split halves.

    XUNSHI_HOME=... .venv/bin/python benchmarks/tune_sentences.py QA.jsonl NEGATIVES.jsonl [--cache FILE]

Every question's raw material is gathered once (dense and BM25 candidates, the nearest sentences,
each candidate's best sentence cosine); the rankings are then replayed offline. Each question set
is split in two halves by line (odd lines = half A, even lines = half B). A setting is chosen on one
half and reported on the other, both ways round; a constant is kept only if it helps on the half it
was not chosen on. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                build_retriever, build_store)
from assistant.settings import Settings
from vectorstore.evaluate import is_hit, load_questions
from vectorstore.search import passage_from_hit
from vectorstore.store import Hit

DEPTH = 50
KNN = 100


def gather(qa: Path, negatives: Path | None, cache: Path) -> dict[str, Any]:
    """Candidates and sentence scores of every question (cached in ``cache``)."""
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    settings = Settings()
    apply_offline_environment(settings)
    embeddings = build_embeddings(settings)
    store = build_store(settings, build_chroma_client(settings), embeddings)
    retriever = build_retriever(settings, store, embeddings)
    out: dict[str, Any] = {"positives": [], "negatives": []}
    sets = [("positives", load_questions(qa))]
    if negatives:
        sets.append(("negatives", load_questions(negatives, need_gold=False)))
    for key, questions in sets:
        for question in questions:
            out[key].append(_material(retriever, store, embeddings, question))
    cache.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return out


def _material(retriever: Any, store: Any, embeddings: Any, question: Any) -> dict[str, Any]:
    q = question.q
    vector = np.asarray(embeddings.embed_query(q), dtype=np.float32)
    dense = retriever.dense(q, DEPTH, None)
    lexical = retriever.lexical.search(q, DEPTH)
    knn = store.sentences.query(vector, KNN)
    hits: dict[str, Hit] = {h.chunk_id: h for h in dense + lexical}
    extra = [s.chunk_id for s in knn if s.chunk_id not in hits]
    for record in store.records(list(dict.fromkeys(extra))):
        hits[record["id"]] = Hit(record["id"], record["text"], record["metadata"], 0.0)
    # The question embedded as a passage too (a symmetric match against sentences).
    as_passage = np.asarray(embeddings.encode_documents([q])[0], dtype=np.float32)
    best: dict[str, float] = {}
    best_text: dict[str, str] = {}
    all_scores: dict[str, list[float]] = {}
    sym: dict[str, float] = {}
    for cid, text, _, _, vec in store.sentences.of_chunks([(cid, h.text) for cid, h in hits.items()]):
        score = float(vec @ vector)
        all_scores.setdefault(cid, []).append(score)
        sym[cid] = max(sym.get(cid, -1.0), float(vec @ as_passage))
        if score > best.get(cid, -1.0):
            best[cid], best_text[cid] = score, text
    found = store.collection.get(ids=list(hits), include=["embeddings"])
    chunk_cos = {cid: float(np.asarray(v, dtype=np.float32) @ vector) for cid, v in zip(found["ids"], found["embeddings"])}
    lexical_scores = {h.chunk_id: h.score for h in lexical}
    phrases = retriever.query_phrases(q)
    chunks = {}
    for cid, hit in hits.items():
        passage = passage_from_hit(hit, 1)
        chunks[cid] = {
            "hit": bool(question.gold) and is_hit(passage, question),
            "best": best.get(cid, 0.0),
            "sentences": sorted(all_scores.get(cid, []), reverse=True),
            "sym": sym.get(cid, 0.0),
            "cos": chunk_cos.get(cid, 0.0),
            "bm25": lexical_scores.get(cid, 0.0),
            "phrase": (sum(p in hit.text for p in phrases) / len(phrases)) if phrases else 0.0,
            "gold_sentence": bool(question.gold) and any(g in best_text.get(cid, "") for g in question.gold),
        }
    return {
        "q": q,
        "dense": [[h.chunk_id, h.score] for h in dense],
        "lexical": [[h.chunk_id, h.score] for h in lexical],
        "knn": [[s.chunk_id, s.score] for s in knn],
        "chunks": chunks,
    }


# --- rankings, replayed offline ------------------------------------------------------------------

def rrf(lists: list[tuple[list[str], float]], k: float) -> dict[str, float]:
    scores: dict[str, float] = {}
    for ids, weight in lists:
        for rank, cid in enumerate(ids, 1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return scores


def first_unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def rank(m: dict[str, Any], scheme: dict[str, Any]) -> list[str]:
    """The chunk ids of one question in the order ``scheme`` gives."""
    dense = [c for c, _ in m["dense"]]
    lexical = [c for c, _ in m["lexical"]]
    knn = first_unique([c for c, _ in m["knn"]])
    kind = scheme["kind"]
    if kind == "dense":
        return dense
    if kind == "lexical":
        return lexical
    k = scheme.get("k", 60)
    lists = [(dense, scheme.get("dw", 1.0)), (lexical, scheme.get("lw", 1.0))]
    if scheme.get("knn_w"):
        lists.append((knn, scheme["knn_w"]))
    fused = rrf(lists, k)
    pool = sorted(fused, key=lambda c: -fused[c])[: scheme.get("pool", 1000)]
    if scheme.get("bonus"):
        for cid in fused:
            fused[cid] += scheme["bonus"] * m["chunks"][cid]["phrase"] / (k + 1)
    if kind == "fused":
        return sorted(fused, key=lambda c: -fused[c])
    if kind == "rescore":  # fused score + w × best sentence cosine, over the pool
        return sorted(pool, key=lambda c: -(fused[c] + scheme["w"] * m["chunks"][c]["best"]))
    if kind == "rrf_sentence":  # a third ranking: the pool ordered by best sentence cosine
        by_sentence = sorted(pool, key=lambda c: -m["chunks"][c]["best"])
        again = rrf(lists + [(by_sentence, scheme["sw"])], k)
        if scheme.get("bonus"):
            for cid in again:
                again[cid] += scheme["bonus"] * m["chunks"][cid]["phrase"] / (k + 1)
        return sorted(again, key=lambda c: -again[c])
    if kind == "sentence":
        return sorted(pool, key=lambda c: -m["chunks"][c]["best"])
    if kind == "zsum":  # scores, not ranks: each signal standardised over the candidates, then added
        feats = scheme["features"]
        z = {f: _standardise({c: _feature(m["chunks"][c], f) for c in pool}) for f in feats}
        total = {c: sum(w * z[f][c] for f, w in feats.items()) for c in pool}
        return sorted(total, key=lambda c: -total[c])
    raise ValueError(kind)


def _feature(chunk: dict[str, Any], name: str) -> float:
    if name == "top2":
        top = chunk["sentences"][:2]
        return sum(top) / len(top) if top else 0.0
    if name == "bm25":
        return float(np.log1p(chunk["bm25"]))
    return chunk[name]


def _standardise(values: dict[str, float]) -> dict[str, float]:
    arr = np.array(list(values.values()))
    mean, std = arr.mean(), arr.std() or 1.0
    return {c: (v - mean) / std for c, v in values.items()}


def metrics(materials: list[dict[str, Any]], scheme: dict[str, Any]) -> dict[str, float]:
    r5 = mrr = 0.0
    for m in materials:
        order = rank(m, scheme)[:10]
        first = next((i for i, c in enumerate(order, 1) if m["chunks"][c]["hit"]), None)
        r5 += first is not None and first <= 5
        mrr += 1 / first if first else 0.0
    n = len(materials) or 1
    return {"r5": r5 / n, "mrr": mrr / n}


def halves(items: list[Any]) -> tuple[list[Any], list[Any]]:
    return items[0::2], items[1::2]


def objective(x: dict[str, float]) -> float:
    return x["r5"] + x["mrr"]


# The ranking the product uses (FusionSettings defaults), for the support table.
CHOSEN: dict[str, Any] = {"kind": "zsum", "knn_w": 1.0, "pool": 50, "features": {"cos": 1.0, "best": 1.0, "bm25": 0.5}}
GRID: list[dict[str, Any]] = (
    [{"kind": "fused", "lw": lw, "k": k, "bonus": b} for lw, k, b in itertools.product([0.5, 1.0], [20, 60], [0, 1.0])]
    + [{"kind": "fused", "lw": lw, "k": k, "knn_w": kw} for lw, k, kw in itertools.product([0.5, 1.0], [20, 60], [0.5, 1.0])]
    + [{"kind": "rescore", "lw": lw, "k": k, "w": w, "bonus": b}
       for lw, k, w, b in itertools.product([0.5, 1.0], [20, 60], [0.5, 1.0, 2.0, 4.0], [0, 1.0])]
    + [{"kind": "rrf_sentence", "lw": lw, "k": k, "sw": sw, "knn_w": kw, "bonus": b}
       for lw, k, sw, kw, b in itertools.product([0.5, 1.0], [20, 60], [1.0, 2.0], [0, 1.0], [0, 1.0])]
    + [{"kind": "zsum", "knn_w": 1.0, "features": {"cos": c, "best": b, "bm25": l}}
       for c, b, l in itertools.product([0.0, 0.5, 1.0], [0.5, 1.0, 1.5, 2.0], [0.0, 0.25, 0.5, 1.0])]
)
FIXED: list[tuple[str, dict[str, Any]]] = [
    ("dense", {"kind": "dense"}),
    ("lexical", {"kind": "lexical"}),
    ("hybrid before (lw .5, k 20, bonus 1)", {"kind": "fused", "lw": 0.5, "k": 20, "bonus": 1.0}),
    ("hybrid before, no bonus", {"kind": "fused", "lw": 0.5, "k": 20}),
    ("sentence only (pool = all)", {"kind": "sentence"}),
    ("plain RRF of dense, BM25, sentence (k 60)", {"kind": "rrf_sentence", "lw": 1.0, "k": 60, "sw": 1.0}),
    ("plain RRF + sentence kNN list", {"kind": "rrf_sentence", "lw": 1.0, "k": 60, "sw": 1.0, "knn_w": 1.0}),
    ("**chosen: z-sum chunk cos + best sentence + ½ BM25 (pool 50)**", CHOSEN),
    ("z-sum chunk cos + best sentence", {"kind": "zsum", "knn_w": 1.0, "features": {"cos": 1, "best": 1}}),
    ("z-sum chunk cos + best sentence + BM25", {"kind": "zsum", "knn_w": 1.0, "features": {"cos": 1, "best": 1, "bm25": 1}}),
    ("z-sum chunk cos + best + sym + BM25", {"kind": "zsum", "knn_w": 1.0, "features": {"cos": 1, "best": 1, "sym": 1, "bm25": 1}}),
    ("z-sum chunk cos + top2 + BM25", {"kind": "zsum", "knn_w": 1.0, "features": {"cos": 1, "top2": 1, "bm25": 1}}),
    ("z-sum sym only", {"kind": "zsum", "knn_w": 1.0, "features": {"sym": 1}}),
    ("z-sum best only", {"kind": "zsum", "knn_w": 1.0, "features": {"best": 1}}),
]


def report(name: str, data: dict[str, Any]) -> None:
    a, b = halves(data["positives"])
    print(f"\n## {name}: {len(data['positives'])} questions (half A {len(a)}, half B {len(b)})\n")
    print("| ranking | A R@5 | A MRR@10 | B R@5 | B MRR@10 | all R@5 | all MRR@10 |")
    print("|---|---|---|---|---|---|---|")
    for label, scheme in FIXED:
        _row(label, scheme, a, b, data["positives"])
    for chosen_on, other, label in ((a, b, "A"), (b, a, "B")):
        best = max(GRID, key=lambda s: objective(metrics(chosen_on, s)))
        _row(f"best of grid on half {label}: {json.dumps(best)}", best, a, b, data["positives"])


def _row(label: str, scheme: dict[str, Any], a: list, b: list, both: list) -> None:
    ma, mb, mall = metrics(a, scheme), metrics(b, scheme), metrics(both, scheme)
    print(f"| {label} | {ma['r5']:.3f} | {ma['mrr']:.3f} | {mb['r5']:.3f} | {mb['mrr']:.3f} | "
          f"{mall['r5']:.3f} | {mall['mrr']:.3f} |")


def signal(m: dict[str, Any], scheme: dict[str, Any], kind: str) -> float:
    """The relevance of one question's top 5: best sentence cosine, or best chunk cosine."""
    top = rank(m, scheme)[:5]
    if kind == "sentence":
        return max((m["chunks"][c]["best"] for c in top), default=0.0)
    dense = dict((c, s) for c, s in m["dense"])
    return max((dense.get(c, 0.0) for c in top), default=0.0)


def auc(pos: list[float], neg: list[float]) -> float:
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    return sum(pairs) / len(pairs) if pairs else 0.0


def keep_share_threshold(pos: list[float], share: float) -> float:
    """The highest threshold that still keeps ``share`` of the answerable questions."""
    ordered = sorted(pos)
    return ordered[int((1 - share) * len(ordered))] if ordered else 0.0


def report_support(name: str, data: dict[str, Any], scheme: dict[str, Any]) -> None:
    pa, pb = halves(data["positives"])
    na, nb = halves(data["negatives"])
    print(f"\n## {name}: not found ({len(data['negatives'])} out-of-scope), ranking {json.dumps(scheme)}\n")
    print("| signal | AUC all | threshold (keeps 95 % of half A) | B answered | B refused | "
          "threshold (from half B) | A answered | A refused |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("sentence", "chunk"):
        sig = {id(m): signal(m, scheme, kind) for m in data["positives"] + data["negatives"]}
        row = [kind, f"{auc([sig[id(m)] for m in data['positives']], [sig[id(m)] for m in data['negatives']]):.3f}"]
        for chosen_pos, other_pos, other_neg in ((pa, pb, nb), (pb, pa, na)):
            t = keep_share_threshold([sig[id(m)] for m in chosen_pos], 0.95)
            answered = sum(sig[id(m)] >= t for m in other_pos) / max(len(other_pos), 1)
            refused = sum(sig[id(m)] < t for m in other_neg) / max(len(other_neg), 1)
            row += [f"{t:.4f}", f"{answered:.3f}", f"{refused:.3f}"]
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa", type=Path)
    parser.add_argument("negatives", type=Path, nargs="?")
    parser.add_argument("--cache", type=Path, help="where the gathered material is kept (default /tmp/<qa>.material.json)")
    args = parser.parse_args()
    cache = args.cache or Path("/tmp") / f"{args.qa.stem}.material.json"
    data = gather(args.qa, args.negatives, cache)
    report(args.qa.name, data)
    if data["negatives"]:
        report_support(args.qa.name, data, CHOSEN)


if __name__ == "__main__":
    main()
