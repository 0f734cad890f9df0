"""Precedents and terms: where a practice was used, across documents, years and levels.

``precedents`` answers "who has done X before?": the matching passages grouped by document,
newest first (by the document's date of issue or publication, ``ingest.dates``). A named practice (“推磨式”) or document title (《…》) found in the corpus is matched
exhaustively and verbatim inside the store; any other query goes through hybrid search and the
relevance threshold. ``terms`` lists those named practices and titles with their counts and documents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.support import assess
from ingest.sentences import sentence_spans
from vectorstore.lexical import DOCUMENT_TITLE, QUOTED_TERM
from vectorstore.search import Passage, SearchFilters
from vectorstore.store import NO_ROW

_MARKS = "“”\"《》「」 "
# Cases found by meaning: at most this many of the best-ranked passages (each above the threshold).
SEARCH_DEPTH = 10


@dataclass
class Case:
    """One passage of a precedent, and the sentence of it that matched the query."""

    section: str
    text: str
    chunk_id: str
    sentence: str = ""
    # "term" (the named practice occurs in it verbatim) or "meaning" (its sentence is close to the query).
    match: str = "meaning"
    score: float | None = None
    # A spreadsheet row (a ledger's problem): its sheet and its own row number.
    sheet: str | None = None
    row: int | None = None


@dataclass
class PrecedentGroup:
    """The cases of one document."""

    doc_id: str
    title: str
    year: int | None
    level: str | None
    source: str
    cases: list[Case] = field(default_factory=list)
    # ISO YYYY-MM-DD or YYYY-MM in ``year``, where the document states it.
    date: str | None = None
    # The knowledge base the document is in.
    kb: str = "default"


@dataclass
class Term:
    """A named practice (“…”) or document (《…》) found in the corpus."""

    term: str
    kind: str  # "practice" or "document"
    count: int
    documents: list[dict[str, Any]] = field(default_factory=list)


def find_precedents(retriever: Any, query: str, threshold: float,
                    filters: SearchFilters | None = None) -> tuple[str, list[PrecedentGroup]]:
    """(how the query was matched: ``term`` or ``search``, the groups newest first).

    A named practice found in the corpus is matched verbatim in every chunk that holds it; the
    cases found by meaning (a sentence close to the query, above the relevance threshold) are
    added to those, so ``提级巡察`` finds the 提级方式 cases too and not only the passages that
    use the words. Each case carries the sentence that matched.
    """
    term = query.strip().strip(_MARKS)
    where = filters.where() if filters else None
    parts = retriever.parts  # one per knowledge base searched
    for part in parts:
        part.lexical.ensure_current()  # the harvested terms of exactly the stored chunks
    items: list[tuple[dict[str, Any], Case]] = []
    seen: set[tuple[str, str]] = set()
    matched = "search"
    if term and any(term in part.lexical.tokenizer.terms for part in parts):
        matched = "term"
        for part in parts:
            for r in part.store.iter_records(where=where, containing=term):
                sentence = next((s for s in split_sentence_texts(r["text"]) if term in s), r["text"])
                meta = {**r["metadata"], "kb": part.kb}
                row = meta.get("row", NO_ROW)
                items.append((meta, Case(meta.get("section", ""), r["text"], r["id"], sentence, "term",
                                         sheet=meta.get("sheet") or None, row=None if row == NO_ROW else row)))
                seen.add((part.kb, r["id"]))
    passages = retriever.search(query, k=SEARCH_DEPTH, filters=filters)
    support = assess(query, passages[:5], threshold)
    if support.found or matched == "term":
        for p in passages:
            if (p.kb, p.chunk_id) in seen or p.sentence_score is None or p.sentence_score < threshold:
                continue
            items.append((_meta(p), Case(p.section, p.text, p.chunk_id, p.sentence or "", "meaning",
                                         p.sentence_score, p.sheet, p.row)))
    return matched, _group(items)


def split_sentence_texts(text: str) -> list[str]:
    """The sentences of a chunk's text, as stored beside it."""
    return [text[a:b] for a, b in sentence_spans(text)]


def _meta(p: Passage) -> dict[str, Any]:
    return {"doc_id": p.doc_id, "title": p.title, "year": p.year, "date": p.date, "level": p.level,
            "source": p.source, "section": p.section, "start": p.start, "kb": p.kb}


def _group(items: list[tuple[dict[str, Any], Case]]) -> list[PrecedentGroup]:
    groups: dict[str, PrecedentGroup] = {}
    starts: dict[str, int] = {}
    for meta, case in items:
        key = f"{meta['kb']}/{meta['doc_id']}"
        group = groups.get(key)
        if group is None:
            group = groups[key] = PrecedentGroup(
                meta["doc_id"], meta["title"], meta.get("year") or None, meta.get("level") or None, meta["source"],
                date=meta.get("date") or None, kb=meta["kb"])
        group.cases.append(case)
        starts[case.chunk_id] = int(meta.get("start") or 0)
    for group in groups.values():
        group.cases.sort(key=lambda c: starts.get(c.chunk_id, 0))
    # Newest first: by year, then by date inside a year (a document known only to its year after
    # the dated ones of that year); undated documents last; then by title for a stable order.
    by_title = sorted(groups.values(), key=lambda g: g.title)
    return sorted(by_title, key=lambda g: (g.year or 0, g.date or ""), reverse=True)


def list_terms(stores: Any) -> list[Term]:
    """Every named practice and document title in the stores (one store, or a list of the
    knowledge bases' stores), most frequent first."""
    found: dict[tuple[str, str], Term] = {}
    seen_docs: dict[tuple[str, str], set[str]] = {}
    records = (r for store in (stores if isinstance(stores, list) else [stores]) for r in store.iter_records())
    for record in records:
        meta = record["metadata"]
        for kind, pattern in (("practice", QUOTED_TERM), ("document", DOCUMENT_TITLE)):
            for match in pattern.findall(record["text"]):
                key = (match.strip(), kind)
                if len(key[0]) < 2:
                    continue
                term = found.setdefault(key, Term(key[0], kind, 0))
                term.count += 1
                docs = seen_docs.setdefault(key, set())
                if meta["doc_id"] not in docs:
                    docs.add(meta["doc_id"])
                    term.documents.append({"doc_id": meta["doc_id"], "title": meta["title"],
                                           "year": meta.get("year") or None, "level": meta.get("level") or None})
    return sorted(found.values(), key=lambda t: (-t.count, t.term))


def as_dicts(items: list[Any]) -> list[dict[str, Any]]:
    """JSON-ready list of dataclasses."""
    return [asdict(item) for item in items]
