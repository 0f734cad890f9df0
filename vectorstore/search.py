"""Search: a question in, ranked passages out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vectorstore.store import NO_PAGE, NO_ROW, Hit


@dataclass
class SearchFilters:
    """Restrictions applied inside the store query, before the top k are cut."""

    doc_ids: list[str] = field(default_factory=list)
    year: int | None = None
    level: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def where(self) -> dict | None:
        """The Chroma ``where`` clause, or None when nothing is restricted."""
        clauses: list[dict] = []
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": list(self.doc_ids)}})
        if self.year is not None:
            clauses.append({"year": self.year})
        if self.level:
            clauses.append({"level": self.level})
        if self.year_from is not None or self.year_to is not None:
            # A range means dated documents only (an undated one is stored with year 0).
            clauses.append({"year": {"$gte": max(self.year_from or 1, 1)}})
        if self.year_to is not None:
            clauses.append({"year": {"$lte": self.year_to}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class Passage:
    """A retrieved chunk, in the field names other tools rely on."""

    doc_id: str
    title: str
    section: str
    text: str
    source: str
    score: float
    rank: int
    chunk_id: str = ""
    year: int | None = None
    level: str | None = None
    page: int | None = None
    # A spreadsheet row: its sheet (None for a .csv) and its own 1-based row number (None outside spreadsheets).
    sheet: str | None = None
    row: int | None = None
    start: int = 0
    end: int = 0
    dense_score: float | None = None
    lexical_score: float | None = None
    # The chunk's sentence nearest to the question: its cosine, its text and its span in ``text``.
    sentence_score: float | None = None
    sentence: str | None = None
    sentence_start: int | None = None
    sentence_end: int | None = None
    # The document's date of issue or publication (ISO YYYY-MM-DD or YYYY-MM), where known.
    date: str | None = None
    # The knowledge base the passage was found in.
    kb: str = "default"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def passage_from_hit(hit: Hit, rank: int, score: float | None = None,
                     dense_score: float | None = None, lexical_score: float | None = None,
                     kb: str = "default") -> Passage:
    """Turn a store hit into a passage at ``rank`` (1-based)."""
    meta = hit.metadata
    return Passage(
        doc_id=meta["doc_id"],
        title=meta["title"],
        section=meta["section"],
        text=hit.text,
        source=meta["source"],
        score=round(hit.score if score is None else score, 4),
        rank=rank,
        chunk_id=hit.chunk_id,
        year=meta.get("year") or None,
        date=meta.get("date") or None,
        level=meta.get("level") or None,
        page=None if meta.get("page", NO_PAGE) == NO_PAGE else meta["page"],
        sheet=meta.get("sheet") or None,
        row=None if meta.get("row", NO_ROW) == NO_ROW else meta["row"],
        start=meta.get("start", 0),
        end=meta.get("end", 0),
        dense_score=None if dense_score is None else round(dense_score, 4),
        lexical_score=None if lexical_score is None else round(lexical_score, 4),
        kb=kb,
    )
