"""Official documents (红头文件, GB/T 9704): the issuing body, the document number (文号), the title, the
addressees, and at the end the signing body and the date.

Above the title of such a document stand the issuing body (``中共xx市委巡察工作领导小组办公室``),
perhaps a secrecy mark or a copy number, and the 文号 (``x巡办发〔2023〕5号``); the title, which
may wrap onto a second line, follows the 文号, and the addressees (``各区县党委：``) follow the
title. These lines, and the signing body, the date and ``（此件公开发布）`` at the end, are lines
of their own, never parts of a sentence: a scan or a PDF must not join them to the next line.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ingest.models import Line

# "x巡办发〔2023〕5号", "中办发[2017]12号", "市纪发（2021）3号"; OCR reads 〔〕 as [], （） or 【】.
# A 签发人 may stand on the same line (上行文).
DOCUMENT_NUMBER = re.compile(
    r"^(?P<prefix>[\w×]{1,15}?)\s*[〔\[［(（【]\s*(?P<year>(?:19|20)[\dxX×]{2})\s*[〕\]］)）】]\s*(?P<serial>[\dxX×]{1,4})\s*号"
    r"(?P<signer>\s*签发人[：:].{1,20})?$"
)
# The issuing body ends in the name of a party or state organ, perhaps followed by 文件.
_ISSUER_END = re.compile(r"(?:委员会|党委|党组|委|办公室|办公厅|小组|政府|纪委|监委|厅|局|部|院)(?:文件)?$")
# Marks in a corner above the issuing body: copy number, secrecy and urgency.
_CORNER_MARK = re.compile(r"^(?:\d{4,8}|(?:绝密|机密|秘密|内部|特急|加急|平急).{0,12})$")
# How many lines above the 文号 may hold the issuing body and the corner marks.
MAX_LINES_ABOVE = 4
# A title wraps onto at most this many lines.
MAX_TITLE_LINES = 3
MAX_TITLE_CHARS = 80
_NOT_IN_TITLE = re.compile(r"[。；;，,]")
# "各区县党委：", "市委各部委，市级国家机关各部门党组（党委）："
_ADDRESSEES = re.compile(r"^[^。；]{2,80}[：:]$")
# The closing block: the signing body, the date, the publication note.
_DATE_LINE = re.compile(r"^(?P<year>(?:19|20)\d{2})\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$")
_CLOSING_NOTE = re.compile(r"^[（(](?:此件|本件)[^）)]{1,20}[）)]$")
CLOSING_LOOKBEHIND = 4


def split_official_header(lines: list[Line]) -> tuple[str, list[Line]] | None:
    """The title of an official document and its body lines, or None when ``lines`` do not open
    with a 文号 under an issuing body.

    The body keeps the issuing body and the 文号 (people search for both) as lines of their own,
    followed by the addressees and the text; the title lines are taken out.
    """
    indices = [i for i, line in enumerate(lines) if line.text.strip()]
    for position, index in enumerate(indices[: MAX_LINES_ABOVE + 1]):
        if DOCUMENT_NUMBER.match(_squeeze(lines[index].text)):
            break
    else:
        return None
    above = [lines[i] for i in indices[:position]]
    if not above or not any(_ISSUER_END.search(_squeeze(line.text)) for line in above):
        return None
    title_lines: list[int] = []
    for i in indices[position + 1 : position + 1 + MAX_TITLE_LINES]:
        text = lines[i].text.strip()
        if _ADDRESSEES.match(text) or _NOT_IN_TITLE.search(text):
            break
        title_lines.append(i)
    title = "".join(lines[i].text.strip() for i in title_lines)
    if not title_lines or len(title) > MAX_TITLE_CHARS:
        return None
    header = [_standalone(line) for line in above if not _CORNER_MARK.match(_squeeze(line.text))]
    rest = lines[title_lines[-1] + 1 :]
    first = next((k for k, line in enumerate(rest) if line.text.strip()), None)
    if first is not None and _ADDRESSEES.match(rest[first].text.strip()):
        rest = rest[:first] + [_standalone(rest[first])] + rest[first + 1 :]
    number = replace(lines[index], text=canonical_number(lines[index].text), joinable=False)
    body = header + [number] + mark_closing_block(rest)
    return title, body


def canonical_number(text: str) -> str:
    """A 文号 as it is printed, whatever brackets and spaces OCR gave it: ``x巡办发〔2023〕5号``."""
    match = DOCUMENT_NUMBER.match(_squeeze(text))
    if match is None:
        return text
    number = f"{match['prefix']}〔{match['year']}〕{match['serial']}号"
    return f"{number} {match['signer']}" if match["signer"] else number


def mark_closing_block(lines: list[Line]) -> list[Line]:
    """Make the signing body, the date and the publication note at the end stand alone."""
    indices = [i for i, line in enumerate(lines) if line.text.strip()][-CLOSING_LOOKBEHIND:]
    dated = [i for i in indices if _DATE_LINE.match(_squeeze(lines[i].text))]
    if not dated:
        return lines
    date = dated[-1]
    out = list(lines)
    for i in indices:
        text = _squeeze(lines[i].text)
        signer = i == _previous(indices, date) and _ISSUER_END.search(text)
        if i == date or signer or (i > date and _CLOSING_NOTE.match(text)):
            out[i] = _standalone(lines[i])
    return out


def document_number_year(paragraphs: list[str]) -> int | None:
    """The year of the first 文号 standing as a paragraph of its own among ``paragraphs``."""
    for paragraph in paragraphs:
        match = DOCUMENT_NUMBER.match(_squeeze(paragraph))
        if match and match.group("year").isdigit():
            return int(match.group("year"))
    return None


def issuing_body(paragraphs: list[str]) -> str | None:
    """The issuing body named above the first 文号 among ``paragraphs`` (``中共xx市委巡察工作领导小组办公室``)."""
    for before, paragraph in zip(paragraphs, paragraphs[1:]):
        if DOCUMENT_NUMBER.match(_squeeze(paragraph)) and _ISSUER_END.search(_squeeze(before)):
            return _squeeze(before)
    return None


def signing_year(paragraphs: list[str]) -> int | None:
    """The year of the date line that closes a document (``2023年6月15日``), among ``paragraphs``."""
    for paragraph in reversed(paragraphs):
        match = _DATE_LINE.match(_squeeze(paragraph))
        if match:
            return int(match.group("year"))
    return None


def _previous(indices: list[int], index: int) -> int | None:
    before = [i for i in indices if i < index]
    return before[-1] if before else None


def _standalone(line: Line) -> Line:
    return replace(line, joinable=False)


def _squeeze(text: str) -> str:
    # Titles and issuing bodies are often letter-spaced ("中 共 x x 市 委"); OCR keeps the gaps.
    return "".join(text.split())
