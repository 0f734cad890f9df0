"""Is an LLM-written answer faithful to its numbered sources? Cheap, literal checks, one list of problems.

Each sentence of the answer is checked against the sources it cites (a sentence without a citation
is covered by the previous sentence's, the first one by all sources):

- every ``[n]`` names a source that exists, and the answer cites at least once;
- every number (``12``, ``3.5``, ``2021``, ``95%``) and every Chinese quantity (``十二个``, ``三轮``,
  ``两次``) appears in the cited text; list markers (一是, 第一, ``1.``) are not facts;
- every quoted “term” and every 《title》 appears in the cited text;
- redacted numbers stay redacted: where a source writes ``发现问题xxxx个``, the answer may not write
  ``发现问题1234个``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

CITATION = re.compile(r"\[(\d+)\]")

_CN_DIGITS = "零〇一二三四五六七八九十百千两"
# Counted things; 万/亿 end a quantity too (三万, 两亿). Kept short on purpose: a false alarm costs trust.
_MEASURES = "个次轮项条件人名家批年篇份起万亿%"
_DIGIT_NUMBER = re.compile(r"(?<![\d.xX])\d+(?:\.\d+)?(?![\dxX]|\.\d)%?")
_CN_QUANTITY = re.compile(rf"([{_CN_DIGITS}]+)(?:余|多)?([{_MEASURES}])")
# 一 alone is mostly the article ("一个重要方面"); 千万 is "by all means". Neither is a fact.
_NOT_QUANTITIES = {"一", "千万"}
# After NFKC: "（1）" is "(1)", "第一，" is "第一,".
_LIST_MARKER = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\(?\d{1,2}\)|\d{1,2}[.、](?!\d)|第[一二三四五六七八九十]+[,、:])\s*"
)
_QUOTED = re.compile(r"“([^“”]{1,80})”")
_TITLE = re.compile(r"《([^《》]{1,80})》")
# A redaction in a source: x's, possibly mixed with digits (20xx) and a decimal point (x.xx).
_REDACTED = re.compile(r"(?<![A-Za-z\d.])\d*[xX][\dxX]*(?:\.[\dxX]+)?(?![A-Za-z\d])")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE_END = "。！？；!?;"
_OPENERS, _CLOSERS = "“《", "”》"
_LEADING_CITATIONS = re.compile(r"^\s*((?:\[\d+\]\s*)+)")


def check_answer(answer: str, sources: Sequence[str]) -> list[str]:
    """Problems that make ``answer`` unfaithful to ``sources``; an empty list means it passes.

    Args:
        answer: The LLM's answer, citing sources as ``[1]``, ``[2]``…
        sources: ``sources[i]`` is the text of source ``[i+1]``.

    Returns:
        One plain sentence per problem, naming the item and the answer sentence it is in.
    """
    answer = _normalize(answer)
    if not answer.strip():
        return []
    texts = [_normalize(s) for s in sources]
    problems: list[str] = []
    if not CITATION.search(answer):
        problems.append("the answer cites no source; every statement needs a [n] citation")
    previous: tuple[int, ...] = tuple(range(1, len(texts) + 1))
    for number, text in enumerate(_split_sentences(answer), 1):
        cited = []
        for n in dict.fromkeys(int(m) for m in CITATION.findall(text)):
            if 1 <= n <= len(texts):
                cited.append(n)
            else:
                problems.append(f"cites [{n}] but there are {len(texts)} sources ({_label(number, text)})")
        previous = tuple(cited) or previous
        cited_text = "\n".join(texts[n - 1] for n in previous)
        problems.extend(_check_sentence(text, cited_text, f"({_label(number, text)})"))
    return list(dict.fromkeys(problems))


def _check_sentence(text: str, cited: str, where: str) -> list[str]:
    """Problems of one sentence against the text of the sources it cites; ``where`` names the sentence."""
    body = _LIST_MARKER.sub("", CITATION.sub("", text))
    compact = _compact(cited)
    problems = []
    cited_numbers = set(_digit_numbers(cited))
    cited_numbers |= {n.rstrip("%") for n in cited_numbers}  # "95%" in a source supports "95" too
    for number in dict.fromkeys(_digit_numbers(body)):
        if number not in cited_numbers:
            problems.append(f"the number {number} is not in the cited passages {where}")
    for quantity in _cn_quantities(body):
        if quantity not in cited and _as_digits(quantity) not in cited:
            problems.append(f"the quantity {quantity} is not in the cited passages {where}")
    for term in _QUOTED.findall(body):
        if _compact(term) not in compact:
            problems.append(f"the quoted term “{term}” is not in the cited passages {where}")
    for title in _TITLE.findall(body):
        if _compact(title) not in compact:
            problems.append(f"《{title}》 is not in the cited passages {where}")
    for filled, redacted in _filled_redactions(body, cited):
        problems.append(f"filled in a redacted number: {filled} (the source has {redacted}) {where}")
    return problems


def _split_sentences(answer: str) -> list[str]:
    """Sentences ending at 。！？； or a line end, never inside “…” or 《…》.

    A citation written after the full stop (``…12个。[1]``) stays with the sentence it follows.
    """
    sentences: list[str] = []
    current: list[str] = []
    depth = 0

    def flush() -> None:
        text = "".join(current)
        current.clear()
        lead = _LEADING_CITATIONS.match(text)
        if lead and sentences:  # "…12个。[1]" — the citation belongs to the sentence it follows
            sentences[-1] += lead.group(1).strip()
            text = text[lead.end():]
        if text.strip():
            sentences.append(text.strip())

    for ch in answer:
        if ch == "\n":
            flush()
            depth = 0  # an unclosed quote does not run past its line
            continue
        current.append(ch)
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth = max(0, depth - 1)
        elif ch in _SENTENCE_END and depth == 0:
            flush()
    flush()
    return sentences


def _digit_numbers(text: str) -> list[str]:
    """Numbers written in digits (``12``, ``3.5``, ``95%``), not those inside a redaction (``20xx``)."""
    return [m.group() for m in _DIGIT_NUMBER.finditer(text)]


def _cn_quantities(text: str) -> list[str]:
    """Chinese numerals followed by a measure word (三轮, 十二个, 两次); the lone article 一 is skipped."""
    found = []
    for m in _CN_QUANTITY.finditer(text):
        if m.group(1) in _NOT_QUANTITIES or m.group(1) + m.group(2) in _NOT_QUANTITIES:
            continue
        found.append(m.group())
    return found


def _as_digits(quantity: str) -> str:
    """``十二个`` → ``12个``, so that a source writing digits supports an answer writing Chinese."""
    m = _CN_QUANTITY.fullmatch(quantity)
    value = _cn_to_int(m.group(1)) if m else None
    return quantity if value is None else quantity.replace(m.group(1), str(value), 1)


def _cn_to_int(numeral: str) -> int | None:
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
    units = {"十": 10, "百": 100, "千": 1000}
    if all(c in digits for c in numeral):  # 二〇二一
        return int("".join(str(digits[c]) for c in numeral))
    total, digit = 0, None
    for c in numeral:
        if c in digits:
            digit = digits[c]
        elif c in units:
            total += (1 if digit is None else digit) * units[c]
            digit = None
        else:
            return None
    return total + (digit or 0)


def _filled_redactions(body: str, cited: str) -> list[tuple[str, str]]:
    """Phrases of ``body`` that write a number where the cited text has the same phrase with x's."""
    found = []
    for m in _REDACTED.finditer(cited):
        before, after = cited[m.start() - 1: m.start()], cited[m.end(): m.end() + 1]
        if not (_CJK.fullmatch(before or " ") and (_CJK.fullmatch(after or " ") or after == "%")):
            continue  # without words on both sides a number could be anything
        number = "".join(
            rf"[\d{_CN_DIGITS}]+" if part[0] in "xX" else re.escape(part)
            for part in re.findall(r"[xX]+|.", m.group())
        )
        pattern = re.compile(rf"([\u4e00-\u9fff]{{0,3}})({re.escape(before)}{number}{re.escape(after)})")
        for filled in pattern.finditer(body):
            if filled.group(2) not in cited:  # the same phrase, unredacted, elsewhere in the cited text is fine
                shown = cited[max(0, m.start() - 1 - len(filled.group(1))): m.end() + 1]
                found.append((filled.group(), shown))
    return found


def _label(number: int, text: str) -> str:
    plain = " ".join(CITATION.sub("", text).split())
    return f'sentence {number} "{plain if len(plain) <= 40 else plain[:39] + "…"}"'


def _normalize(text: str) -> str:
    # Full-width digits, letters and ％ become ASCII, so "１２" in a source supports "12" in the answer.
    return unicodedata.normalize("NFKC", text)


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)
