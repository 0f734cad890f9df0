"""Does retrieval support an answer? The "not found" decision, and the text pieces it looks at.

Two signals, both cheap:

- the best dense cosine among the top passages (``relevance``), against
  ``XUNSHI_RELEVANCE_THRESHOLD`` (chosen on the dev sets, see docs/answers.md);
- the question's hard facts: a year, an ordinal round (第十轮), a 《title》, a quoted “term” or a
  place name that none of the top passages contains. Asking for 2023 when the documents speak of
  2021, or for 杭州 when no document mentions it, is out of scope however close the wording is;
- the quantity it asks for: "多少天", "几年", "多少钱" want a number with that unit, and passages
  that give no such number (``xx天`` counts: a redacted number is still a number) cannot answer it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vectorstore.evaluate import relevance
from vectorstore.search import Passage

_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_ORDINAL = re.compile(r"第[一二三四五六七八九十百零〇两\d]+[轮届批次]")
_TITLE = re.compile(r"《([^《》]{2,60})》")
_QUOTED = re.compile(r"[“\"]([^“”\"]{2,20})[”\"]")
# Provinces, autonomous regions, municipalities, SARs, provincial capitals and other large cities:
# a question naming one of these asks about that place.
PLACES = tuple(
    """北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南
    四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 石家庄 太原 沈阳 长春 哈尔滨 南京
    杭州 合肥 福州 南昌 济南 郑州 武汉 长沙 广州 海口 成都 贵阳 昆明 西安 兰州 西宁 呼和浩特 南宁 拉萨 银川
    乌鲁木齐 大连 青岛 宁波 厦门 深圳 苏州 无锡 温州 佛山 东莞 珠海 烟台 徐州 洛阳 唐山""".split()
)


# A question asking for a quantity in a unit (多少天, 几年, 多少钱, 什么比例) and the units that answer it.
_ASKED_QUANTITY = re.compile(r"(?:多少|几)(天|年|个月|月|周|小时|元|钱|万元|人|名|次|家|个)|(比例|百分之几|占比)")
_UNIT_ANSWERS = {"钱": "元|万元|万", "元": "元|万", "万元": "万元|亿元", "个月": "个月|月", "月": "个月|月",
                 "比例": "%|％|百分之|成", "百分之几": "%|％|百分之", "占比": "%|％|百分之"}
_NUMBER = r"[\dxX×一二三四五六七八九十百千万两半]+"


def asked_quantity(question: str) -> str | None:
    """The unit of the quantity ``question`` asks for (天, 年, 元…), or None."""
    match = _ASKED_QUANTITY.search(question)
    return (match.group(1) or match.group(2)) if match else None


def gives_quantity(unit: str, text: str) -> bool:
    """Whether ``text`` states a number in ``unit`` (or a unit that answers it)."""
    units = _UNIT_ANSWERS.get(unit, re.escape(unit))
    if unit == "年":  # a number of years, not a year (2021年, 20xx年)
        return re.search(r"(?<![\dxX×])(?:[一二三四五六七八九十两半]+|[\dxX×]{1,2})\s*年(?![度底初末])", text) is not None
    return re.search(rf"{_NUMBER}\s*(?:{units})", text) is not None


# How far below the threshold a question may be when a term it quotes is in the passages.
NAMED_TERM_SLACK = 0.05


@dataclass(frozen=True)
class Support:
    """Whether the passages support an answer, and why not."""

    found: bool
    relevance: float
    missing: tuple[str, ...] = ()
    reason: str = ""


def hard_facts(question: str) -> list[str]:
    """Years, ordinal rounds, titles, quoted terms and place names the question names."""
    facts = _YEAR.findall(question) + _ORDINAL.findall(question)
    facts += _TITLE.findall(question) + _QUOTED.findall(question)
    facts += [place for place in PLACES if place in question]
    return list(dict.fromkeys(facts))


def assess(question: str, passages: Sequence[Passage], threshold: float) -> Support:
    """Decide whether ``passages`` (best first) can answer ``question``."""
    score = relevance(list(passages))
    if not passages:
        return Support(False, 0.0, reason="no passage matches")
    text = "\n".join(f"{p.title}\n{p.section}\n{p.text}" for p in passages)
    facts = hard_facts(question)
    missing = tuple(fact for fact in facts if fact not in text)
    # A quoted term or 《title》 of the question found verbatim vouches for the passages even when
    # the wording around it is far from theirs (什么是“统分式”反馈？).
    named = [f for f in _TITLE.findall(question) + _QUOTED.findall(question) if f in text]
    if score < threshold and not (named and not missing and score >= threshold - NAMED_TERM_SLACK):
        return Support(False, score, reason=f"best similarity {score:.3f} is below the threshold {threshold:.3f}")
    if missing:
        return Support(False, score, missing, reason="the passages do not mention " + "、".join(missing))
    unit = asked_quantity(question)
    if unit and not gives_quantity(unit, text):
        return Support(False, score, (unit,), reason=f"the question asks for a number of {unit} that the passages do not give")
    return Support(True, score)
