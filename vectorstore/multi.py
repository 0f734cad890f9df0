"""Search across several knowledge bases at once, fused as if they were one.

Each knowledge base's retriever gathers its candidates with their raw signals (chunk cosine,
best-sentence cosine, BM25); the union is then standardised and weighted in one step, so a
passage's place does not depend on how many knowledge bases were searched beside it. Cosines
are comparable across knowledge bases (one embedding model); BM25 is each one's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vectorstore.hybrid import (
    MODES,
    Candidate,
    Evidence,
    HybridRetriever,
    best_passages,
    fuse,
)
from vectorstore.search import Passage, SearchFilters


class MultiRetriever:
    """The retrievers of several knowledge bases behind the one interface of ``HybridRetriever``."""

    def __init__(self, retrievers: Sequence[HybridRetriever]) -> None:
        if not retrievers:
            raise ValueError("at least one knowledge base to search")
        self.parts = list(retrievers)
        first = self.parts[0]
        self.embeddings, self.fusion, self.reranker = first.embeddings, first.fusion, first.reranker
        # Query words (for answers' checks) come from the jieba dictionary shared by every index.
        self.lexical = first.lexical

    @property
    def kbs(self) -> list[str]:
        """The knowledge bases searched."""
        return [part.kb for part in self.parts]

    def search(self, query: str, k: int = 5, filters: SearchFilters | None = None,
               mode: str = "hybrid") -> list[Passage]:
        """The ``k`` best passages of all the knowledge bases, best first, by ``mode``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if mode != "hybrid":
            found = [p for part in self.parts for p in part.search(query, k, filters, mode)]
            key = (lambda p: p.dense_score or 0.0) if mode == "dense" else (lambda p: p.lexical_score or 0.0)
            ranked = sorted(found, key=key, reverse=True)[:k]
            for rank, p in enumerate(ranked, 1):
                p.rank = rank
            return ranked
        return best_passages(query, self.candidates(query, max(k, self.fusion.depth), filters), k,
                             self.reranker, self.fusion.depth)

    def candidates(self, query: str, depth: int, filters: SearchFilters | None) -> list[Candidate]:
        """Every knowledge base's candidates, fused over their union."""
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        pool: list[Candidate] = []
        rest: list[Candidate] = []
        for part in self.parts:
            head, tail = part.gather(vector, query, depth, filters)
            pool += head
            rest += tail
        phrases = set().union(*(part.query_phrases(query) for part in self.parts)) if self.fusion.phrase_bonus else set()
        return fuse(self.fusion, pool, rest, phrases)

    def passage_sentences(self, query: str, passages: list[Passage]) -> list[list[Evidence]]:
        """Every stored sentence of each passage, with its cosine to ``query``, from its own knowledge base."""
        by_kb = {part.kb: part for part in self.parts}
        out: list[list[Evidence]] = [[] for _ in passages]
        for kb, part in by_kb.items():
            mine = [i for i, p in enumerate(passages) if p.kb == kb]
            if mine:
                for i, found in zip(mine, part.passage_sentences(query, [passages[i] for i in mine])):
                    out[i] = found
        return out


def combined(retrievers: Sequence[HybridRetriever]) -> Any:
    """One retriever over ``retrievers``: the retriever itself when there is one."""
    return retrievers[0] if len(retrievers) == 1 else MultiRetriever(retrievers)
