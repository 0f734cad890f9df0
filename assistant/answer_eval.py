"""Faithfulness and refusal of the answer step on a question set (``xunshi eval --answers``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.answer import Answer, Answerer, cited_pieces
from assistant.checks import CITATION
from vectorstore.evaluate import Question


def verbatim_pieces(answer: Answer) -> tuple[int, int]:
    """(pieces found word for word in one of their cited passages, pieces)."""
    texts = {c.n: c.text for c in answer.citations}
    pieces = cited_pieces(answer.answer)
    found = sum(any(piece in texts.get(n, "") for n in numbers) for piece, numbers in pieces)
    return found, len(pieces)


def citations_consistent(answer: Answer) -> bool:
    """Every [n] in the text is a listed citation and every listed citation is used."""
    used = {int(n) for n in CITATION.findall(answer.answer)}
    return used == {c.n for c in answer.citations}


def evaluate_answers(answerer: Answerer, questions: Sequence[Question],
                     negatives: Sequence[Question] = ()) -> dict[str, Any]:
    """Answer rate, gold coverage and verbatim share on answerable questions; refusal rate on the rest."""
    answered = with_gold = found_pieces = pieces = consistent = 0
    per_query = []
    for q in questions:
        answer = answerer.ask(q.q)
        ok_pieces, n_pieces = verbatim_pieces(answer)
        has_gold = answer.found and any(g in answer.answer for g in q.gold)
        answered += answer.found
        with_gold += has_gold
        found_pieces += ok_pieces
        pieces += n_pieces
        consistent += citations_consistent(answer)
        per_query.append({"q": q.q, "found": answer.found, "gold_in_answer": has_gold, "note": answer.note})
    refused = 0
    for q in negatives:
        answer = answerer.ask(q.q)
        refused += not answer.found
        consistent += citations_consistent(answer)
        per_query.append({"q": q.q, "found": answer.found, "out_of_scope": True, "note": answer.note})
    n = len(questions) or 1
    report: dict[str, Any] = {
        "n": len(questions),
        "answer_rate": round(answered / n, 4),
        "gold_in_answer": round(with_gold / n, 4),
        "verbatim_share": round(found_pieces / pieces, 4) if pieces else 1.0,
        "citations_consistent": round(consistent / ((len(questions) + len(negatives)) or 1), 4),
        "per_query": per_query,
    }
    if negatives:
        report["n_out_of_scope"] = len(negatives)
        report["refusal_rate"] = round(refused / len(negatives), 4)
    return report
