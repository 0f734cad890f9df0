"""Document metadata read off the text: ids, hashes, the year a title names, administrative level.

The date of a document (title, file name, 题注, 落款, …) is read in ``ingest.dates``.

Levels are the ranks of the party committee or government whose work a document records:
自治区 / 省 / 市 / 县. The four municipalities directly under the central government (直辖市:
北京, 上海, 天津, 重庆) rank as provinces, and their committees run 巡视 as provincial committees
do, so a document of 北京市委 or 上海市人民政府 is 省; their districts (区委) are 县. A bare
``市委`` that names no city stays 市: the text does not say which kind of city it is. Documents of
the centre (中共中央, 国务院, 中央纪委) have no level of these four.
"""

from __future__ import annotations

import hashlib
import re

from ingest.official import issuing_body

_MUNICIPALITY = "(?:北京|上海|天津|重庆)市"
# Earliest mention wins; 区委/旗委 are county-level, 州委/盟委 city-level (地级).
_LEVEL_PATTERNS = [
    ("自治区", re.compile(r"自治区(?:党委|纪委|政府|人民政府)")),
    ("省", re.compile(rf"省委|省纪委|省政府|省人民政府|全省|{_MUNICIPALITY}(?:委|纪委|政府|人民政府)")),
    ("市", re.compile(r"(?<!直辖)市委|市纪委|州委|盟委|市政府|全市")),
    ("县", re.compile(r"县委|区委|旗委|县纪委|全县")),
]
# "省、自治区、直辖市（委员会）": the fixed phrase of central rules that names every province-level
# unit at once; it tells nothing about the document's own level.
_ALL_PROVINCES = re.compile(r"省、自治区、直辖市(?:党委|委员会|纪委)?")
_YEAR = re.compile(r"((?:19|20)\d{2})年")
# A year standing alone at the end of a title ("中国共产党纪律处分条例 2023") or before 版.
_BARE_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?:\s*版|\s*[）)]?\s*$)")
LEVELS = ("自治区", "省", "市", "县")
# An official document's issuing body and 文号 stand among its first paragraphs.
DOCUMENT_NUMBER_LOOKAHEAD = 5
# How far into the lead paragraph a level may be read from when the title does not say.
LEVEL_LOOKAHEAD = 300
# The lead is the first paragraph of running text: long enough, and ending a sentence or a lead-in.
MIN_LEAD_CHARS = 15
_LEAD_END = "。！？；：!?;:”）)"


def sha256_hex(data: bytes | str) -> str:
    """Hex SHA-256 of bytes or of a string's UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def make_doc_id(source: str, title: str) -> str:
    """A stable id for the article ``title`` of the file at ``source``."""
    return sha256_hex(f"{source}\n{title}")[:12]


def year_from_title(title: str) -> int | None:
    """The year a title names (``2021年…``, ``…条例 2023``); redacted years (``20xx年``) give None."""
    match = _YEAR.search(title) or _BARE_YEAR.search(title)
    return int(match.group(1)) if match else None


def lead_paragraph(body: str) -> str:
    """The first paragraph of running text, after bylines, salutations and other short lines."""
    for paragraph in body.split("\n"):
        paragraph = paragraph.strip()
        if len(paragraph) >= MIN_LEAD_CHARS and paragraph[-1] in _LEAD_END:
            return paragraph
    return body


def detect_level(title: str, body: str) -> str | None:
    """自治区 / 省 / 市 / 县 when the title, or else an official document's issuing body, or else the lead
    paragraph of the body, makes it evident.

    The lead is where a summary names whose work it records ("2021年，自治区党委巡视工作……");
    committees named further on are mostly examples, cases or quotations.
    """
    issuer = issuing_body(body.split("\n")[:DOCUMENT_NUMBER_LOOKAHEAD]) or ""
    for text in (title, issuer, lead_paragraph(body)[:LEVEL_LOOKAHEAD]):
        text = _ALL_PROVINCES.sub("", text)
        found = [(m.start(), level) for level, pattern in _LEVEL_PATTERNS if (m := pattern.search(text))]
        if found:
            return min(found)[1]
    return None
