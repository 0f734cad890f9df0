"""Answers with citations: extractive by default, written by a local LLM when one is configured.

Extractive mode never writes a word of its own: it picks sentences of the top passages that answer
the question, keeps each one verbatim and marks it ``[n]``. LLM mode hands the same passages,
numbered and fenced, to the model, then checks what comes back (``assistant.checks``); an answer
that fails a check, or an LLM that cannot be reached, falls back to the extractive answer with a
note saying why. Either way, when retrieval does not support an answer (``assistant.support``),
the answer says so and cites nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any


from assistant.checks import CITATION
from assistant.support import Support, assess
from ingest.sentences import content_length
from vectorstore.search import Passage, SearchFilters

NOT_FOUND_TEXT = "现有文件材料中没有找到能回答这个问题的内容。"
NOT_FOUND_MARK = "NOT_FOUND"
PASSAGES_FOR_ANSWER = 5
MAX_SENTENCES = 3
MAX_PER_PASSAGE = 2
# A sentence scoring below this share of the best one is left out.
SCORE_SHARE = 0.75
# Weight of a sentence's meaning (its cosine to the question) beside the words it shares with it.
MEANING_WEIGHT = 1.0
_CITED_PIECE = re.compile(r"(.+?)((?:\[\d+\])+)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|\n+")
# Words that say what kind of answer is wanted, not what it is about.
QUESTION_WORDS = frozenset(
    "多少 哪些 怎么 什么 如何 是否 一共 有没有 没有 哪里 哪个 哪儿 谁 几 几次 几个 几年 可以 需要 要 会 能 怎样 "
    "为什么 主要 具体 一般 情况 是 吗 呢 吧 还 还有 别的 其他 其它 另外 此外 那么 那 这 这个 那个 做法 办法".split()
)
_FOLLOW_UP_START = re.compile(r"^(那|那么|还有|另外|此外|其中|这个|这些|那些|它|他们|该|同样|再)")
_LEVEL_WORDS = re.compile(r"(中央|自治区|省|市|县|区县|盟市|旗县|乡镇|村)(一级|级|委|里)?")


@dataclass
class Citation:
    """A passage an answer cites, numbered as in the answer text."""

    n: int
    doc_id: str
    title: str
    section: str
    text: str
    source: str
    score: float
    rank: int
    year: int | None = None
    level: str | None = None
    # The passage's sentence nearest to the question (highlighted on the page).
    sentence: str | None = None
    # The page of the source file the passage is on, where the file has pages (PDF).
    page: int | None = None
    # A spreadsheet row: its sheet and its own row number.
    sheet: str | None = None
    row: int | None = None
    # The knowledge base the passage is in.
    kb: str = "default"


@dataclass
class Answer:
    """What ``ask`` returns; ``as_dict`` is the ``--json`` payload."""

    question: str
    answer: str
    found: bool
    mode: str
    citations: list[Citation] = field(default_factory=list)
    note: str = ""
    resolved_question: str = ""
    relevance: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def split_sentences(text: str) -> list[str]:
    """Sentences (and ；-clauses) of ``text``, each with its closing mark, stripped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def citation_from(passage: Passage, n: int) -> Citation:
    """The citation numbered ``n`` for ``passage`` (its fields are the passage's, by name)."""
    return Citation(n=n, **{f.name: getattr(passage, f.name) for f in fields(Citation) if f.name != "n"})


def cited_pieces(text: str) -> list[tuple[str, list[int]]]:
    """The pieces of an answer's text, each with the citation numbers that close it."""
    return [(m.group(1).strip(), [int(n) for n in CITATION.findall(m.group(2))])
            for m in _CITED_PIECE.finditer(text)]


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\W+", "", text)
    return {text[i:i + 2] for i in range(len(text) - 1)}


def near_duplicate(a: str, b: str, limit: float = 0.6) -> bool:
    """Two sentences that say the same thing (character-bigram overlap over the shorter one)."""
    ga, gb = _bigrams(a), _bigrams(b)
    if not ga or not gb:
        return a == b
    return len(ga & gb) / min(len(ga), len(gb)) >= limit


class Answerer:
    """Answers questions from one retriever; the CLI and the web chat share it.

    Args:
        retriever: A ``HybridRetriever`` (``search`` and ``lexical.tokenizer``).
        embeddings: The embedding model (query vectors and sentence vectors).
        threshold: Relevance below which a question is not covered (``XUNSHI_RELEVANCE_THRESHOLD``).
        chat_model: A LangChain chat model for LLM mode; None = extractive only.
        prompts: Prompt texts by name (``answer``, ``condense``), loaded and checked at start-up.
    """

    def __init__(self, retriever: Any, embeddings: Any, threshold: float, chat_model: Any = None,
                 prompts: dict[str, str] | None = None) -> None:
        self.retriever = retriever
        self.embeddings = embeddings
        self.threshold = threshold
        self.chat_model = chat_model
        self.prompts = prompts or {}

    # --- the question --------------------------------------------------------------------------

    def content_words(self, text: str) -> list[str]:
        """The words of ``text`` that carry its topic."""
        words = self.retriever.lexical.tokenizer.words(text, for_query=True)
        return [w for w in dict.fromkeys(words) if w not in QUESTION_WORDS and len(w) >= 2]

    def resolve(self, question: str, history: Sequence[dict[str, str]] = ()) -> str:
        """A follow-up question made standalone from the conversation so far.

        With an LLM, the condensing prompt rewrites it. Without one, a question that reads as a
        follow-up (short, or opening with 那/还有/另外…, or ending on 呢) carries the previous
        question's topic words, minus the level words the follow-up replaces (那市一级呢？).
        """
        previous = [turn["content"] for turn in history if turn.get("role") == "user" and turn.get("content")]
        if not previous or not self.is_follow_up(question):
            return question
        if self.chat_model is not None and "condense" in self.prompts:
            from assistant.llm import LLMUnavailable, complete

            transcript = "\n".join(f"{t.get('role')}: {t.get('content', '')}" for t in history[-6:])
            try:
                rewritten = complete(self.chat_model, self.prompts["condense"].format(history=transcript,
                                                                                      question=question), question)
            except LLMUnavailable:
                rewritten = ""
            rewritten = rewritten.strip().splitlines()[0].strip() if rewritten.strip() else ""
            if rewritten and NOT_FOUND_MARK not in rewritten:
                return rewritten
        topic = previous[-1]
        if _LEVEL_WORDS.search(question):
            topic = _LEVEL_WORDS.sub("", topic)
        carried = [w for w in self.content_words(topic) if w not in question]
        return f"{question} {' '.join(carried)}".strip()

    @staticmethod
    def is_follow_up(question: str) -> bool:
        """Reads as a follow-up: short, opens with 那/还有/另外…, or ends on 呢."""
        q = question.strip().rstrip("？?。！!")
        return len(q) <= 8 or bool(_FOLLOW_UP_START.match(q)) or q.endswith("呢")

    # --- answering -----------------------------------------------------------------------------

    def retrieve(self, question: str, filters: SearchFilters | None = None,
                 k: int = PASSAGES_FOR_ANSWER) -> tuple[list[Passage], Support]:
        """The top passages for ``question`` and whether they support an answer."""
        passages = self.retriever.search(question, k=k, filters=filters)
        return passages, assess(question, passages, self.threshold)

    def ask(self, question: str, history: Sequence[dict[str, str]] = (), filters: SearchFilters | None = None,
            on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer ``question`` from the documents, citing every statement."""
        resolved = self.resolve(question, history)
        passages, support = self.retrieve(resolved, filters)
        if not support.found:
            return Answer(question, NOT_FOUND_TEXT, False, "llm" if self.chat_model else "extractive",
                          note=support.reason, resolved_question=resolved, relevance=support.relevance)
        extractive = self.extract(resolved, passages)
        extractive.question, extractive.relevance = question, support.relevance
        if self.chat_model is None:
            return extractive
        return self._ask_llm(question, resolved, passages, extractive, on_token)

    def candidate_sentences(self, question: str, passages: Sequence[Passage],
                            min_chars: int = 6) -> list[tuple[int, int, str, float]]:
        """The stored sentences of ``passages`` as ``(passage index, position, text, cosine to the
        question)``; fragments under ``min_chars`` content characters are left out."""
        found = self.retriever.passage_sentences(question, list(passages))
        return [(pi, si, e.text, e.score) for pi, sentences in enumerate(found) for si, e in enumerate(sentences)
                if content_length(e.text) >= min_chars]

    def extract(self, question: str, passages: Sequence[Passage]) -> Answer:
        """Verbatim sentences of ``passages`` that answer ``question``, each marked with its citation."""
        candidates = self.candidate_sentences(question, passages)
        if not candidates:
            return Answer(question, NOT_FOUND_TEXT, False, "extractive", note="the passages have no sentences",
                          resolved_question=question)
        scores = self.sentence_scores(question, candidates)
        order = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)
        best = scores[order[0]]
        chosen: list[int] = []
        per_passage: dict[int, int] = {}
        for i in order:
            pi, _, sentence, _ = candidates[i]
            if len(chosen) >= MAX_SENTENCES or scores[i] < best * SCORE_SHARE:
                break
            if per_passage.get(pi, 0) >= MAX_PER_PASSAGE:
                continue
            if any(near_duplicate(sentence, candidates[j][2]) for j in chosen):
                continue
            chosen.append(i)
            per_passage[pi] = per_passage.get(pi, 0) + 1
        # The passage with the best sentence first; within a passage, the sentences' own order.
        passage_best: dict[int, float] = {}
        for i in chosen:
            passage_best.setdefault(candidates[i][0], scores[i])
        chosen.sort(key=lambda i: (-passage_best[candidates[i][0]], candidates[i][1]))
        numbers: dict[int, int] = {}
        parts = []
        for i in chosen:
            pi, _, sentence, _ = candidates[i]
            n = numbers.setdefault(pi, len(numbers) + 1)
            parts.append(f"{sentence}[{n}]")
        citations = [citation_from(passages[pi], n) for pi, n in numbers.items()]
        return Answer(question, "".join(parts), True, "extractive", citations, resolved_question=question)

    def sentence_scores(self, question: str, candidates: Sequence[tuple[int, int, str, float]]) -> list[float]:
        """How well each candidate sentence answers ``question``: its meaning (cosine to the question,
        scaled between the weakest and the strongest candidate), the topic words and characters it
        shares with the question, and the rank of its passage."""
        words = self.content_words(question)
        weight = sum(min(len(w), 4) for w in words) or 1
        question_grams = _bigrams(question)
        cosines = [c[3] for c in candidates]
        low, high = min(cosines), max(cosines)
        scores = []
        for pi, _, sentence, cosine in candidates:
            overlap = sum(min(len(w), 4) for w in words if w in sentence) / weight
            grams = len(question_grams & _bigrams(sentence)) / (len(question_grams) or 1)
            meaning = (cosine - low) / (high - low) if high > low else 1.0
            scores.append(MEANING_WEIGHT * meaning + 0.6 * overlap + 0.4 * grams + 0.15 / (pi + 1))
        return scores

    # --- LLM mode ------------------------------------------------------------------------------

    def _ask_llm(self, question: str, resolved: str, passages: Sequence[Passage], extractive: Answer,
                 on_token: Callable[[str], None] | None) -> Answer:
        from assistant.checks import check_answer
        from assistant.llm import LLMUnavailable, complete

        prompt = self.prompts["answer"]
        try:
            text = complete(self.chat_model, prompt.format(sources=fence_sources(passages), question=resolved),
                            resolved, on_token)
        except LLMUnavailable as e:
            return _fallback(extractive, f"{e}")
        text = text.strip()
        if text.startswith(NOT_FOUND_MARK) or text == NOT_FOUND_TEXT:
            return Answer(question, NOT_FOUND_TEXT, False, "llm", note="the model found no answer in the passages",
                          resolved_question=resolved, relevance=extractive.relevance)
        problems = check_answer(text, [p.text for p in passages])
        if problems:
            return _fallback(extractive, "the model's answer failed the checks: " + "; ".join(problems))
        text, citations = renumber(text, passages)
        return Answer(question, text, True, "llm", citations, resolved_question=resolved,
                      relevance=extractive.relevance)


def _fallback(extractive: Answer, why: str) -> Answer:
    extractive.note = f"answered from the documents only: {why}"
    return extractive


def fence_sources(passages: Sequence[Passage]) -> str:
    """The passages numbered and fenced so that text inside them is data, not instructions."""
    blocks = []
    for n, p in enumerate(passages, 1):
        body = p.text.replace("<source", "‹source").replace("</source", "‹/source")
        blocks.append(f'<source n="{n}" title="{p.title}" section="{p.section}">\n{body}\n</source>')
    return "\n\n".join(blocks)


def renumber(text: str, passages: Sequence[Passage]) -> tuple[str, list[Citation]]:
    """Cite only the sources the text uses, numbered 1, 2, … in order of first use."""
    mapping: dict[int, int] = {}
    for match in CITATION.finditer(text):
        mapping.setdefault(int(match.group(1)), len(mapping) + 1)
    renumbered = CITATION.sub(lambda m: f"[{mapping[int(m.group(1))]}]", text)
    citations = [citation_from(passages[old - 1], new) for old, new in mapping.items()]
    return renumbered, citations
