"""Retrieval evaluation on a question set: hit@1, Recall@k, MRR@10 per retriever, and how well the
relevance signal separates answerable questions from out-of-scope ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import ConfigError
from vectorstore.search import Passage

MRR_DEPTH = 10


@dataclass
class Question:
    """One line of a QA file: the question, gold substrings, optionally the documents that count."""

    q: str
    gold: list[str]
    docs: list[str] = field(default_factory=list)


def load_questions(path: Path, need_gold: bool = True) -> list[Question]:
    """Read a JSONL question file; a bad line is an error naming the file and line."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            doc = item.get("doc") or []
            questions.append(Question(q=item["q"], gold=list(item.get("gold") or []),
                                      docs=[doc] if isinstance(doc, str) else list(doc)))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{path}:{number}: expected {{\"q\": ..., \"gold\": [...]}}: {e}") from e
        if need_gold and not questions[-1].gold:
            raise ConfigError(f"{path}:{number}: no gold substrings")
    return questions


def is_hit(passage: Passage, question: Question) -> bool:
    """The passage contains a gold substring (and belongs to one of the named documents)."""
    if not any(g in passage.text for g in question.gold):
        return False
    if not question.docs:
        return True
    return passage.title in question.docs or Path(passage.source).name in question.docs


def first_hit_rank(passages: list[Passage], question: Question) -> int | None:
    """1-based rank of the first hit, or None."""
    return next((p.rank for p in passages if is_hit(p, question)), None)


def summarise(ranks: list[int | None], k: int) -> dict[str, float]:
    """hit@1, Recall@k and MRR@10 over the first-hit ranks."""
    n = len(ranks) or 1
    return {
        "hit@1": round(sum(r == 1 for r in ranks) / n, 4),
        f"recall@{k}": round(sum(r is not None and r <= k for r in ranks) / n, 4),
        f"mrr@{MRR_DEPTH}": round(sum(1 / r for r in ranks if r is not None and r <= MRR_DEPTH) / n, 4),
    }


def relevance(passages: list[Passage]) -> float:
    """The relevance signal of a result list: the best sentence cosine among its passages (the best
    dense chunk cosine for passages that carry no sentence evidence)."""
    scores = [p.sentence_score for p in passages if p.sentence_score is not None]
    if not scores:
        scores = [p.dense_score for p in passages if p.dense_score is not None]
    return max(scores) if scores else 0.0


def separation(positives: list[float], negatives: list[float]) -> dict[str, Any]:
    """How well a score separates answerable (positives) from out-of-scope (negatives) questions."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    auc = sum(pairs) / len(pairs) if pairs else 0.0
    best = (0.0, 0.0)
    for threshold in sorted(set(positives + negatives)):
        correct = sum(p >= threshold for p in positives) + sum(n < threshold for n in negatives)
        accuracy = correct / (len(positives) + len(negatives))
        if accuracy > best[0]:
            best = (accuracy, threshold)
    return {
        "auc": round(auc, 4),
        "best_threshold": round(best[1], 4),
        "accuracy_at_best": round(best[0], 4),
        "answerable_mean": round(sum(positives) / len(positives), 4) if positives else None,
        "out_of_scope_mean": round(sum(negatives) / len(negatives), 4) if negatives else None,
    }


def evaluate(retriever: Any, questions: list[Question], k: int = 5, modes: tuple[str, ...] = ("lexical", "dense", "hybrid"),
             negatives: list[Question] | None = None, threshold: float | None = None) -> dict[str, Any]:
    """Run every question through each mode; the ``xunshi eval --json`` object."""
    depth = max(k, MRR_DEPTH)
    result: dict[str, Any] = {"n": len(questions), "k": k}
    per_query: list[dict[str, Any]] = [{"q": q.q} for q in questions]
    positives: list[float] = []
    for mode in modes:
        ranks = []
        for row, question in zip(per_query, questions):
            passages = retriever.search(question.q, k=depth, mode=mode)
            rank = first_hit_rank(passages, question)
            ranks.append(rank)
            row[f"{mode}_rank"] = rank
            if mode == "hybrid":
                positives.append(relevance(passages[:k]))
        result[mode] = summarise(ranks, k)
    result["per_query"] = per_query
    if negatives is not None and "hybrid" in modes:
        scores = [relevance(retriever.search(q.q, k=k, mode="hybrid")) for q in negatives]
        result["separation"] = separation(positives, scores)
        result["separation"]["n_out_of_scope"] = len(negatives)
        if threshold is not None:
            result["separation"]["configured_threshold"] = threshold
            result["separation"]["answerable_kept"] = round(sum(p >= threshold for p in positives) / max(len(positives), 1), 4)
            result["separation"]["out_of_scope_refused"] = round(sum(s < threshold for s in scores) / max(len(scores), 1), 4)
    return result
