"""Draft a summary paragraph in the house style from what the documents say.

The house style of a 综述 paragraph: a lead sentence, then 一是…；二是…；三是…。, ending on the
effect. Without an LLM every part is a verbatim sentence from a passage, cited, joined by the
ordinal markers and two fixed connectives (the lead and 通过上述举措，). With an LLM the model
writes the paragraph from the numbered passages under the same checks as answers, and falls back
to the composed paragraph when a check fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.answer import NOT_FOUND_MARK, Answerer, Citation, citation_from, fence_sources, near_duplicate
from assistant.answer import renumber
from assistant.support import assess
from vectorstore.search import Passage, SearchFilters

ORDINALS = "一二三四五六七八九十"
DRAFT_PASSAGES = 12
# Sentences that report an effect close the paragraph rather than fill a part.
_EFFECT = re.compile(r"成效|效果|推动解决|实现了|有效|显著|明显|提升|促进|形成了|达到|覆盖率|好转")
_TRAILING = "。；;，,、：: "
# Quoted guidance (总书记强调…) frames a paragraph; it is not one of the practices the parts list.
_QUOTATION = re.compile(r"总书记|强调|指出")


@dataclass
class Draft:
    """What ``draft`` returns; ``as_dict`` is the ``--json`` payload."""

    topic: str
    draft: str
    found: bool
    mode: str
    citations: list[Citation] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def write_draft(answerer: Answerer, topic: str, filters: SearchFilters | None = None, length: int = 300,
                on_token: Callable[[str], None] | None = None) -> Draft:
    """One paragraph on ``topic`` from passages across the documents, every part cited."""
    passages = answerer.retriever.search(topic, k=DRAFT_PASSAGES, filters=filters)
    support = assess(topic, passages[:5], answerer.threshold)
    mode = "llm" if answerer.chat_model is not None else "extractive"
    if not support.found:
        return Draft(topic, f"现有文件材料中没有找到关于“{topic}”的内容，无法起草。", False, mode, note=support.reason)
    composed = compose(answerer, topic, passages, length)
    if answerer.chat_model is None:
        return composed
    return _draft_llm(answerer, topic, passages, length, composed, on_token)


def compose(answerer: Answerer, topic: str, passages: list[Passage], length: int) -> Draft:
    """The paragraph built from verbatim sentences: lead, 一是…；二是…, effect."""
    candidates = answerer.candidate_sentences(topic, passages, min_chars=12)
    if not candidates:
        return Draft(topic, f"现有文件材料中没有找到关于“{topic}”的内容，无法起草。", False, "extractive",
                     note="the passages have no sentences")
    scores = answerer.sentence_scores(topic, candidates)
    order = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)
    parts_wanted = max(3, min(len(ORDINALS), length // 90))
    parts: list[int] = []
    effect: int | None = None
    used_passages: set[int] = set()
    # First pass: one part per passage, so the paragraph spans documents; second pass fills up.
    for spread in (True, False):
        for i in order:
            pi, _, sentence, _ = candidates[i]
            if len(parts) >= parts_wanted or i in parts or i == effect:
                continue
            if spread and pi in used_passages:
                continue
            if _QUOTATION.search(sentence):
                continue
            if any(near_duplicate(sentence, candidates[j][2]) for j in parts + ([effect] if effect is not None else [])):
                continue
            if _EFFECT.search(sentence) and effect is None:
                effect = i
                continue
            parts.append(i)
            used_passages.add(pi)
    numbers: dict[int, int] = {}

    def cite(i: int) -> str:
        return f"[{numbers.setdefault(candidates[i][0], len(numbers) + 1)}]"

    lead = f"围绕{topic}，相关文件材料反映的主要做法如下："
    pieces = []
    for k, i in enumerate(parts):
        body = candidates[i][2].rstrip(_TRAILING)
        pieces.append(f"{ORDINALS[k]}是{body}{cite(i)}")
    text = lead + "；".join(pieces) + "。"
    if effect is not None:
        text += f"通过上述举措，{candidates[effect][2].rstrip(_TRAILING)}{cite(effect)}。"
    citations = [citation_from(passages[pi], n) for pi, n in numbers.items()]
    return Draft(topic, text, bool(parts), "extractive", citations)


def _draft_llm(answerer: Answerer, topic: str, passages: list[Passage], length: int, composed: Draft,
               on_token: Callable[[str], None] | None) -> Draft:
    from assistant.checks import check_answer
    from assistant.llm import LLMUnavailable, complete

    system = answerer.prompts["draft"].format(topic=topic, sources=fence_sources(passages), length=length)
    try:
        text = complete(answerer.chat_model, system, f"请就“{topic}”起草一段综述。", on_token).strip()
    except LLMUnavailable as e:
        composed.note = f"composed from the documents only: {e}"
        return composed
    if text.startswith(NOT_FOUND_MARK):
        composed.note = "the model found the passages insufficient; composed from the documents only"
        return composed
    problems = check_answer(text, [p.text for p in passages])
    if problems:
        composed.note = "composed from the documents only: the model's draft failed the checks: " + "; ".join(problems)
        return composed
    text, citations = renumber(text, passages)
    return Draft(topic, text, True, "llm", citations)
