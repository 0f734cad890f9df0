"""Hybrid retrieval: chunk vectors, sentence vectors and BM25, fused by their standardised scores.

Three retrievers find candidates: the chunk vectors (dense), BM25 over jieba tokens (lexical) and
the sentence vectors (the chunks of the sentences nearest to the question). The leading candidates
(by reciprocal rank over the three lists) are then scored on three signals: the chunk's cosine, its
best sentence's cosine (the sentence nearest to the question, from the stored sentence vectors) and
its BM25 score (log). Each signal is standardised over the candidates of this question (mean 0,
standard deviation 1), so no signal's scale decides, and the weighted sum orders them. A
300-character chunk vector blurs the one sentence a question is about; the best sentence does not.
How the weights were chosen (split halves of the dev sets): docs/retrieval.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from vectorstore.lexical import LexicalIndex
from vectorstore.search import Passage, SearchFilters, passage_from_hit
from vectorstore.store import ChunkStore, Hit

MODES = ("hybrid", "dense", "lexical")
_QUOTED_IN_QUERY = re.compile(r"[“\"']([^“”\"']{2,20})[”\"']")


@dataclass(frozen=True)
class FusionSettings:
    """How the signals are fused (chosen on split halves of the dev sets; see docs/retrieval.md)."""

    dense_weight: float = 1.0
    lexical_weight: float = 0.5
    sentence_weight: float = 1.0
    rrf_k: int = 60
    depth: int = 50
    knn_depth: int = 100
    pool: int = 50
    phrase_bonus: float = 0.0


@dataclass
class Evidence:
    """The sentence of a chunk nearest to the question."""

    score: float
    text: str
    start: int
    end: int


@dataclass
class Candidate:
    """A fused candidate: the chunk, its fused score, and what each retriever said of it."""

    hit: Hit
    score: float = 0.0
    dense: float | None = None
    lexical: float | None = None
    sentence: Evidence | None = None
    kb: str = "default"


class HybridRetriever:
    """Dense, lexical or fused search over one store, with the same filters for every retriever."""

    def __init__(self, store: ChunkStore, embeddings: Any, lexical: LexicalIndex,
                 fusion: FusionSettings | None = None, reranker: Any = None, kb: str = "default") -> None:
        self.kb = kb
        self.store = store
        self.embeddings = embeddings
        self.lexical = lexical
        self.fusion = fusion or FusionSettings()
        self.reranker = reranker

    @property
    def parts(self) -> list[HybridRetriever]:
        """The single-knowledge-base retrievers this one searches: itself."""
        return [self]

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
        if mode == "dense":
            hits = self.dense(query, k, filters)
            return [passage_from_hit(h, rank, dense_score=h.score, kb=self.kb) for rank, h in enumerate(hits, 1)]
        if mode == "lexical":
            hits = self.lexical.search(query, k, filters)
            return [passage_from_hit(h, rank, lexical_score=h.score, kb=self.kb) for rank, h in enumerate(hits, 1)]
        candidates = self.candidates(query, max(k, self.fusion.depth), filters)
        return best_passages(query, candidates, k, self.reranker, self.fusion.depth)

    def candidates(self, query: str, depth: int, filters: SearchFilters | None) -> list[Candidate]:
        """Every candidate, best first, with its sentence evidence (the leading ``pool`` of them
        scored on all three signals, the rest after them in reciprocal-rank order)."""
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        pool, rest = self.gather(vector, query, depth, filters)
        return fuse(self.fusion, pool, rest, self.query_phrases(query) if self.fusion.phrase_bonus else set())

    def gather(self, vector: np.ndarray, query: str, depth: int,
               filters: SearchFilters | None) -> tuple[list[Candidate], list[Candidate]]:
        """(the leading ``pool`` candidates with their three raw signals, the rest in reciprocal-rank
        order) from the three retrievers; ``fuse`` orders them."""
        f = self.fusion
        where = filters.where() if filters else None
        lexical = self.lexical.search(query, depth, filters)  # also brings the in-memory chunks up to date
        dense = self.store.nearest(vector, depth, where)
        nearest = self.store.sentences.query(vector, f.knn_depth, where)
        knn_order = list(dict.fromkeys(s.chunk_id for s in nearest))
        found: dict[str, Candidate] = {h.chunk_id: Candidate(h, kb=self.kb) for h in lexical}
        # Text and metadata of the other candidates: from the lexical index's memory, else the store.
        wanted = [cid for cid in dict.fromkeys([cid for cid, _ in dense] + knn_order) if cid not in found]
        hits = self.lexical.hits(wanted)
        for record in self.store.records([cid for cid in wanted if cid not in hits]):
            hits[record["id"]] = Hit(record["id"], record["text"], record["metadata"], 0.0)
        for cid, hit in hits.items():
            found[cid] = Candidate(hit, kb=self.kb)
        for h in lexical:
            found[h.chunk_id].lexical = h.score
        for cid, cosine in dense:
            if cid in found:
                found[cid].dense = cosine
        rankings = [[cid for cid, _ in dense if cid in found], [h.chunk_id for h in lexical],
                    [cid for cid in knn_order if cid in found]]
        first = _rrf(rankings, f.rrf_k, found)
        order = sorted(found, key=lambda cid: -first[cid])
        pool = [found[cid] for cid in order[: f.pool]]
        self._attach_evidence(vector, pool)
        self._attach_chunk_cosines(vector, [c for c in pool if c.dense is None])
        return pool, [found[cid] for cid in order[f.pool:]]

    def _attach_chunk_cosines(self, vector: np.ndarray, candidates: list[Candidate]) -> None:
        """The chunk cosine of candidates that the dense retriever did not return."""
        if not candidates:
            return
        cosines = self.store.chunk_cosines([c.hit.chunk_id for c in candidates], vector)
        for c in candidates:
            c.dense = cosines.get(c.hit.chunk_id)

    def _attach_evidence(self, vector: np.ndarray, candidates: list[Candidate]) -> None:
        """Each candidate's sentence nearest to the query."""
        by_id = {c.hit.chunk_id: c for c in candidates}
        for cid, evidence in self._scored_sentences(vector, [(c.hit.chunk_id, c.hit.text) for c in candidates]):
            current = by_id[cid].sentence
            if current is None or evidence.score > current.score:
                by_id[cid].sentence = evidence

    def passage_sentences(self, query: str, passages: list[Passage]) -> list[list[Evidence]]:
        """Every stored sentence of each passage, in order, with its cosine to ``query``."""
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        by_chunk: dict[str, list[Evidence]] = {}
        for cid, evidence in self._scored_sentences(vector, [(p.chunk_id, p.text) for p in passages]):
            by_chunk.setdefault(cid, []).append(evidence)
        return [by_chunk.get(p.chunk_id, []) for p in passages]

    def _scored_sentences(self, vector: np.ndarray, chunks: list[tuple[str, str]]) -> list[tuple[str, Evidence]]:
        """``(chunk_id, sentence with its cosine to the unit ``vector``)`` for every stored sentence."""
        return [(cid, Evidence(float(sentence_vector @ vector), text, start, end))
                for cid, text, start, end, sentence_vector in self.store.sentences.of_chunks(chunks)]


def best_passages(query: str, candidates: list[Candidate], k: int, reranker: Any, depth: int) -> list[Passage]:
    """The ``k`` best fused candidates as passages (re-scored by the cross-encoder first, when there is one)."""
    if reranker is not None:
        rows = reranker.rerank(query, [(c.hit, c.score, c.dense, c.lexical) for c in candidates], depth)
        by_hit = {id(c.hit): c for c in candidates}  # the reranker hands back the same hits
        candidates = [by_hit[id(row[0])] for row in rows]
        for c, row in zip(candidates, rows):
            c.score = row[1]
    return [_passage(c, rank) for rank, c in enumerate(candidates[:k], 1)]


def _passage(c: Candidate, rank: int) -> Passage:
    passage = passage_from_hit(c.hit, rank, score=c.score, dense_score=c.dense, lexical_score=c.lexical, kb=c.kb)
    _fill(passage, c.sentence)
    return passage


def _fill(passage: Passage, evidence: Evidence | None) -> None:
    if evidence is not None:
        passage.sentence_score = round(evidence.score, 4)
        passage.sentence = evidence.text
        passage.sentence_start, passage.sentence_end = evidence.start, evidence.end


def fuse(f: FusionSettings, pool: list[Candidate], rest: list[Candidate], phrases: set[str]) -> list[Candidate]:
    """The pool ordered by its weighted, standardised signals, then the rest in the order given."""
    if not pool:
        return list(rest)
    signals = {
        "dense": (f.dense_weight, [c.dense or 0.0 for c in pool]),
        "sentence": (f.sentence_weight, [c.sentence.score if c.sentence else 0.0 for c in pool]),
        "lexical": (f.lexical_weight, [float(np.log1p(c.lexical or 0.0)) for c in pool]),
    }
    total = np.zeros(len(pool))
    for weight, values in signals.values():
        if weight:
            total += weight * _standardised(np.asarray(values, dtype=np.float64))
    if f.phrase_bonus and phrases:
        total += f.phrase_bonus * np.array([sum(p in c.hit.text for p in phrases) / len(phrases) for c in pool])
    for c, score in zip(pool, total):
        c.score = float(score)
    ranked = sorted(pool, key=lambda c: -c.score)
    floor = min(c.score for c in pool)
    for i, c in enumerate(rest, 1):
        c.score = floor - i * 1e-3  # after the scored pool, in reciprocal-rank order
    return ranked + list(rest)


def _rrf(rankings: list[list[str]], k: int, found: dict[str, Candidate]) -> dict[str, float]:
    scores = dict.fromkeys(found, 0.0)
    for ids in rankings:
        for rank, cid in enumerate(ids, 1):
            scores[cid] += 1.0 / (k + rank)
    return scores


def _standardised(values: np.ndarray) -> np.ndarray:
    """Mean 0, standard deviation 1 over the candidates (all 0 when they are all equal)."""
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)
