"""Document metadata read off the text: ids, hashes, year, administrative level."""

from __future__ import annotations

import hashlib
import re

# Earliest mention wins; 区委/旗委 are county-level, 州委/盟委 city-level (地级).
_LEVEL_PATTERNS = [
    ("自治区", re.compile(r"自治区(?:党委|纪委|政府|人民政府)")),
    ("省", re.compile(r"省委|省纪委|省政府|省人民政府|全省")),
    ("市", re.compile(r"市委|市纪委|州委|盟委|市政府|全市")),
    ("县", re.compile(r"县委|区委|旗委|县纪委|全县")),
]
_YEAR = re.compile(r"((?:19|20)\d{2})年")
LEVELS = ("自治区", "省", "市", "县")
# How far into the body a level may be read from when the title does not say.
LEVEL_LOOKAHEAD = 300


def sha256_hex(data: bytes | str) -> str:
    """Hex SHA-256 of bytes or of a string's UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def make_doc_id(source: str, title: str) -> str:
    """A stable id for the article ``title`` of the file at ``source``."""
    return sha256_hex(f"{source}\n{title}")[:12]


def year_from_title(title: str) -> int | None:
    """The year a title names (``2021年…``); redacted years (``20xx年``) give None."""
    match = _YEAR.search(title)
    return int(match.group(1)) if match else None


def detect_level(title: str, body: str) -> str | None:
    """自治区 / 省 / 市 / 县 when the title, or else the opening of the body, makes it evident."""
    for text in (title, body[:LEVEL_LOOKAHEAD]):
        found = [(m.start(), level) for level, pattern in _LEVEL_PATTERNS if (m := pattern.search(text))]
        if found:
            return min(found)[1]
    return None
