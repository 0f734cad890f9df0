"""Hybrid retrieval: dense and BM25 rankings fused by weighted reciprocal rank, quoted phrases boosted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vectorstore.lexical import LexicalIndex
from vectorstore.search import Passage, SearchFilters, passage_from_hit
from vectorstore.store import ChunkStore, Hit

MODES = ("hybrid", "dense", "lexical")
_QUOTED_IN_QUERY = re.compile(r"[“\"']([^“”\"']{2,20})[”\"']")


@dataclass(frozen=True)
class FusionSettings:
    """How the two rankings are fused (chosen on the dev sets; see docs/retrieval.md)."""

    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    rrf_k: int = 60
    depth: int = 30
    phrase_bonus: float = 0.0


class HybridRetriever:
    """Dense, lexical or fused search over one store, with the same filters for both."""

    def __init__(self, store: ChunkStore, embeddings: Any, lexical: LexicalIndex,
                 fusion: FusionSettings | None = None, reranker: Any = None) -> None:
        self.store = store
        self.embeddings = embeddings
        self.lexical = lexical
        self.fusion = fusion or FusionSettings()
        self.reranker = reranker

    def dense(self, query: str, k: int, filters: SearchFilters | None) -> list[Hit]:
        """Nearest chunks by cosine similarity."""
        where = filters.where() if filters else None
        return self.store.query(self.embeddings.embed_query(query), k, where)

    def query_phrases(self, query: str) -> set[str]:
        """Phrases of the query that must match exactly: quoted ones and known corpus terms."""
        phrases = set(_QUOTED_IN_QUERY.findall(query))
        # The lexical search of this same query has just brought the terms up to date.
        phrases.update(t for t in self.lexical.tokenizer.terms if t in query)
        return phrases

    def search(self, query: str, k: int = 5, filters: SearchFilters | None = None,
               mode: str = "hybrid") -> list[Passage]:
        """The ``k`` best passages, best first, by ``mode`` (hybrid, dense or lexical)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        depth = max(k, self.fusion.depth)
        if mode == "dense":
            hits = self.dense(query, k, filters)
            return [passage_from_hit(h, rank, dense_score=h.score) for rank, h in enumerate(hits, 1)]
        lexical = self.lexical.search(query, depth if mode == "hybrid" else k, filters)
        if mode == "lexical":
            return [passage_from_hit(h, rank, lexical_score=h.score) for rank, h in enumerate(lexical, 1)]
        dense = self.dense(query, depth, filters)
        fused = self._fuse(query, dense, lexical)
        if self.reranker is not None:
            fused = self.reranker.rerank(query, fused, depth)
        return [
            passage_from_hit(hit, rank, score=score, dense_score=d, lexical_score=lx)
            for rank, (hit, score, d, lx) in enumerate(fused[:k], 1)
        ]

    def _fuse(self, query: str, dense: list[Hit], lexical: list[Hit]) -> list[tuple[Hit, float, float | None, float | None]]:
        f = self.fusion
        scores: dict[str, float] = {}
        hits: dict[str, Hit] = {}
        dense_scores: dict[str, float] = {}
        lexical_scores: dict[str, float] = {}
        for rank, hit in enumerate(dense, 1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + f.dense_weight / (f.rrf_k + rank)
            hits[hit.chunk_id] = hit
            dense_scores[hit.chunk_id] = hit.score
        for rank, hit in enumerate(lexical, 1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + f.lexical_weight / (f.rrf_k + rank)
            hits.setdefault(hit.chunk_id, hit)
            lexical_scores[hit.chunk_id] = hit.score
        if f.phrase_bonus:
            phrases = self.query_phrases(query)
            if phrases:
                for cid, hit in hits.items():
                    share = sum(p in hit.text for p in phrases) / len(phrases)
                    scores[cid] += f.phrase_bonus * share / (f.rrf_k + 1)
        ranked = sorted(scores, key=lambda cid: scores[cid], reverse=True)
        return [(hits[c], scores[c], dense_scores.get(c), lexical_scores.get(c)) for c in ranked]
