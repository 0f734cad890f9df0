"""The date of a document: when it was issued or published, read off its title, file name and text.

Evidence, strongest first; only these positions count, never a date in running text (events,
deadlines, documents cited):

1. the title: ``2026年北京市政府工作报告``, ``…条例 2023``, ``政府工作报告——2024年3月5日在…会议上``;
2. the file name, when the file holds one document: ``…_2016.txt``, ``…_2017修订文本``,
   ``20210305_…``, ``2021-03-05 …`` (a year that starts a part of the name, not one inside a word);
3. the 题注 under the title, its latest date, so that an amended regulation is dated by its latest
   revision: ``（2003年12月31日中共中央发布 2023年12月8日…第三次修订 2023年12月19日中共中央发布）``,
   ``(2017年12月修改)``, ``（…通过 根据2014年11月1日…的决定修正）``;
4. a line at the head or the foot that says when it was issued or published: ``发布时间：2023-05-12``,
   ``2017年08月22日09:55 来源：人民网``, ``xx办公室 2023年6月15日印发``;
5. the 落款: a date on a line of its own, or after the signing body, among the last lines
   (``二〇二一年三月五日`` too);
6. a 文号 at the head or in the title: ``x巡办发〔2023〕5号``;
7. the closing article: ``本条例自2016年7月8日起施行``.

The first source that dates the document gives its year. The full date is the first one, in the
same order, that falls in that year: a title naming 2023 and a 落款 of 2024-01-10 give 2023 and no
date, so that ``year`` and ``date`` never disagree.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from ingest.metadata import year_from_title

_FULLWIDTH = str.maketrans("０１２３４５６７８９：", "0123456789:")
_YEAR = r"(?:19|20)\d{2}"
_CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0, "Ｏ": 0, "O": 0}
_CN_DIGIT = "〇○零ＯO一二三四五六七八九"
_DATE_PATTERNS = (
    # 2021年3月5日, 2017年08月22日, 2017年12月, 2021年
    re.compile(rf"(?<!\d)({_YEAR})\s*年(?:\s*(\d{{1,2}})\s*月(?:\s*(\d{{1,2}})\s*[日号])?)?"),
    # 2026-02-09, 2019.1.1, 2021/3/5
    re.compile(rf"(?<![\d.])({_YEAR})([-./])(\d{{1,2}})(?:\2(\d{{1,2}}))?(?![\d])"),
    # 二〇二一年三月五日
    re.compile(rf"([{_CN_DIGIT}]{{4}})\s*年(?:\s*([一二三四五六七八九十]{{1,3}})\s*月(?:\s*([一二三四五六七八九十]{{1,3}})\s*日)?)?"),
)
# How many paragraphs from the start hold a 题注, a dateline or a 文号; how many from the end a 落款,
# a 版记 (…印发) or the closing article.
HEAD_PARAGRAPHS = 3
ISSUE_HEAD_PARAGRAPHS = 8
TAIL_PARAGRAPHS = 8
IN_FORCE_PARAGRAPHS = 3
# A 题注 is a paragraph wholly in brackets (a blank line may cut it in two, so a piece that only
# opens or only closes the bracket counts too); "（一）" opens an item, not a 题注.
_HEADNOTE = re.compile(r"^(?![（(][一二三四五六七八九十\d]+[）)])(?:[（(][^。]{4,400}|[^。（(]{4,400}[）)])$")
# A line that is a statement of issue or publication, not a sentence: short, cites no document.
MAX_ISSUE_LINE = 80
_ISSUE_LABEL = re.compile(r"(?:发布|印发|发文|成文|公布|发表|签发)?(?:时间|日期)\s*[:：]\s*")
_ISSUE_VERB = re.compile(r"(?:印发|发布|公布|签发)\s*[）)]?$")
_DATELINE_REST = re.compile(r"^\s*(?:\d{1,2}:\d{2}(?::\d{2})?)?\s*(?:(?:来源|作者|编辑|浏览)\s*[:：].*)?$")
# A signing body before the date on a 落款 line (after a space, or glued to it by cleaning): no sentence punctuation.
_SIGNATURE = re.compile(r"^[^。，,、；;：:！？!?“”《》]{0,40}$")
# What may follow a 落款 date on its line once cleaning has glued the next line to it: a bracketed
# note (（此件公开发布）) or a labelled line (书记员：…, 抄送：…).
_AFTER_SIGNATURE = re.compile(r"^(?:$|[（(]|[\u4e00-\u9fff]{1,6}\s*[：:])")
_DOCUMENT_NUMBER = re.compile(rf"[\u4e00-\u9fffA-Za-z]{{1,15}}[〔［\[【(（]\s*({_YEAR})\s*[〕］\]】)）]\s*第?\s*\d{{1,5}}\s*号")
_IN_FORCE = re.compile(r"自\s*([^。，；]{6,16}?)\s*起施行")
# A date at the start of a part of a file name: after its start or a separator, not inside a word.
_NAME_PART = re.compile(r"(?:^|(?<=[_\-\s（）()【】\[\]·,，、]))(?=(?:19|20)\d{2})")
_COMPACT_DATE = re.compile(rf"^({_YEAR})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
_BARE_YEAR = re.compile(rf"^({_YEAR})(?!\d)")


@dataclass(frozen=True, order=True)
class Date:
    """A calendar date known to the year, the month or the day."""

    year: int
    month: int = 0
    day: int = 0

    def iso(self) -> str | None:
        """``YYYY-MM-DD`` or ``YYYY-MM``; None when only the year is known."""
        if not self.month:
            return None
        return f"{self.year:04d}-{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")


@dataclass(frozen=True)
class DocumentDate:
    """When a document was issued or published, and where the text says so.

    Attributes:
        year: The year, or None when nothing states it.
        date: ISO ``YYYY-MM-DD`` or ``YYYY-MM`` in that year, where known.
        year_source / date_source: The evidence read: ``title``, ``file name``, ``headnote``,
            ``issued``, ``signature``, ``document number``, ``in force``.
    """

    year: int | None = None
    date: str | None = None
    year_source: str | None = None
    date_source: str | None = None

    @property
    def sources(self) -> str | None:
        """Where the year and the date were read: ``headnote``, or ``title, headnote``."""
        if self.date_source in (None, self.year_source):
            return self.year_source
        return f"{self.year_source}, {self.date_source}"


def _cn_number(text: str) -> int:
    """一 … 九, 十, 十二, 二十, 三十一."""
    if "十" not in text:
        return _CN_DIGITS.get(text, 0) if len(text) == 1 else 0
    tens, _, units = text.partition("十")
    return (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_CN_DIGITS.get(units, 0) if units else 0)


def _make(year: int, month: int, day: int) -> Date | None:
    if not 1900 <= year <= 2099:
        return None
    if not 1 <= month <= 12:
        return Date(year)
    try:
        datetime.date(year, month, day or 1)
    except ValueError:
        return Date(year, month)
    return Date(year, month, day)


def _date_of(match: re.Match[str], kind: int) -> Date | None:
    if kind == 0:
        year, month, day = match.group(1), match.group(2), match.group(3)
        return _make(int(year), int(month or 0), int(day or 0))
    if kind == 1:
        return _make(int(match.group(1)), int(match.group(3)), int(match.group(4) or 0))
    year = int("".join(str(_CN_DIGITS[c]) for c in match.group(1)))
    return _make(year, _cn_number(match.group(2) or ""), _cn_number(match.group(3) or ""))


def find_dates(text: str) -> list[tuple[int, int, Date]]:
    """Every date written in ``text`` (``2021年3月5日``, ``2026-02-09``, ``二〇二一年三月五日``),
    as ``(start, end, date)`` in reading order. Redacted years (``20xx年``) are not dates."""
    text = text.translate(_FULLWIDTH)
    found: list[tuple[int, int, Date]] = []
    for kind, pattern in enumerate(_DATE_PATTERNS):
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e, _ in found):
                continue
            date = _date_of(match, kind)
            if date:
                found.append((match.start(), match.end(), date))
    return sorted(found)


def _dates(text: str) -> list[Date]:
    return [d for _, _, d in find_dates(text)]


def _signed(text: str) -> Date | None:
    """The date of a 落款 line: a date alone, or after the signing body (``中共xx市委 2021年3月5日``,
    ``最高人民法院最高人民检察院二〇一二年十二月二十六日`` when cleaning joined the lines), known at
    least to the month. A sentence that starts with a date (``2021年3月，巡视组进驻…``) is not one."""
    text = text.strip().translate(_FULLWIDTH)
    if len(text) > MAX_ISSUE_LINE:
        return None
    for start, end, date in find_dates(text):
        before, after = text[:start].strip(), text[end:].strip()
        if date.month and _SIGNATURE.match(before.strip("（(")) and _AFTER_SIGNATURE.match(after.lstrip("）)")):
            return date
    return None


def date_from_title(title: str) -> Date | None:
    """The year a title names, with the full date when the title also gives it in that year."""
    year = year_from_title(title)
    if year is None:
        return None
    return next((d for d in _dates(title) if d.year == year and d.month), Date(year))


def date_from_file_name(name: str) -> Date | None:
    """A date that starts a part of a file name: ``…_2016``, ``_2017修订文本``, ``20210305_…``,
    ``2024年政府工作报告``. A year inside a word (``govreports2026``, ``研究部署2023年…``) is not one."""
    name = name.translate(_FULLWIDTH)
    for match in _NAME_PART.finditer(name):
        rest = name[match.start():]
        if compact := _COMPACT_DATE.match(rest):
            return _make(int(compact.group(1)), int(compact.group(2)), int(compact.group(3)))
        found = find_dates(rest)
        if found and found[0][0] == 0:
            return found[0][2]
        if bare := _BARE_YEAR.match(rest):
            return Date(int(bare.group(1)))
    return None


def date_from_headnote(paragraphs: list[str]) -> Date | None:
    """The latest date of the 题注 under the title (adoption, revision, publication), or None.

    A dated subtitle on the first line (``——2026年2月3日在…会议上``) counts as a 题注 too.
    """
    dates = [
        d
        for i, paragraph in enumerate(paragraphs[:HEAD_PARAGRAPHS])
        if _HEADNOTE.match(paragraph.strip()) or (i == 0 and paragraph.strip().startswith("——"))
        for d in _dates(paragraph)
    ]
    return max(dates, default=None)


def _issue_date(paragraph: str, at_head: bool, signed: bool = False) -> Date | None:
    text = paragraph.strip().translate(_FULLWIDTH)
    if not text or len(text) > MAX_ISSUE_LINE or "《" in text:
        return None
    if label := _ISSUE_LABEL.search(text):
        found = find_dates(text[label.end():])
        if found and found[0][0] == 0:
            return found[0][2]
    found = find_dates(text)
    if not found:
        return None
    start, end, date = found[-1]
    if _ISSUE_VERB.search(text[end:]) and date.month and not re.search(r"[。，,；;]", text) \
            and not re.search(r"[（(].*[）)]", text[end:]):  # "…2021年3月5日（此件公开发布）" is a 落款
        return date
    if not at_head:
        return None
    start, end, date = found[0]
    if not start and date.month and text[end:].strip() and _DATELINE_REST.match(text[end:]):
        return date  # a dateline: the date with its time or source
    # The date of a 公告 or a letter standing before the text it publishes, signed or not.
    return date if signed and (date := _signed(text)) and date.day else None


def date_issued(paragraphs: list[str], furniture: Iterable[str] = ()) -> Date | None:
    """The date of a line saying when the document was issued or published.

    Args:
        paragraphs: The document's paragraphs; the first and the last few are read.
        furniture: Lines that cleaning took out of the file as web page furniture
            (``发布时间：2023-05-12``, ``2017年08月22日09:55 来源：人民网``), read first.
    """
    head = paragraphs[:ISSUE_HEAD_PARAGRAPHS]
    foot_start = len(paragraphs) - TAIL_PARAGRAPHS
    foot = paragraphs[max(len(head), foot_start):]
    # A signed date at the head dates a 公告 before its text; among the last lines it is the 落款.
    candidates = ([(p, True, False) for p in furniture] + [(p, True, i < foot_start) for i, p in enumerate(head)]
                  + [(p, False, False) for p in reversed(foot)])
    return next((d for p, at_head, signed in candidates if (d := _issue_date(p, at_head, signed))), None)


def date_signed(paragraphs: list[str]) -> Date | None:
    """The 落款 date: the last line among the last few that is a date, alone or after the signing body."""
    return next((d for p in reversed(paragraphs[-TAIL_PARAGRAPHS:]) if (d := _signed(p))), None)


def date_from_document_number(title: str, paragraphs: list[str]) -> Date | None:
    """The year of a 文号 (``x巡办发〔2023〕5号``) in the title or a short line at the head."""
    for text in [title, *paragraphs[:ISSUE_HEAD_PARAGRAPHS]]:
        text = text.strip()
        if len(text) <= MAX_ISSUE_LINE and "《" not in text and (match := _DOCUMENT_NUMBER.search(text)):
            return Date(int(match.group(1)))
    return None


def date_in_force(paragraphs: list[str]) -> Date | None:
    """The date a regulation's closing article puts it in force (``本条例自2016年7月8日起施行``)."""
    for paragraph in reversed(paragraphs[-IN_FORCE_PARAGRAPHS:]):
        for match in reversed(list(_IN_FORCE.finditer(paragraph))):
            if dates := _dates(match.group(1)):
                return dates[0]
    return None


def _evidence(title: str, body: str, file_name: str | None,
              furniture: Iterable[str]) -> Iterator[tuple[str, Date | None]]:
    paragraphs = [p for p in body.split("\n") if p.strip()]
    yield "title", date_from_title(title)
    if file_name:
        yield "file name", date_from_file_name(file_name)
    yield "headnote", date_from_headnote(paragraphs)
    yield "issued", date_issued(paragraphs, furniture)
    yield "signature", date_signed(paragraphs)
    yield "document number", date_from_document_number(title, paragraphs)
    yield "in force", date_in_force(paragraphs)


def document_date(title: str, body: str, file_name: str | None = None, furniture: Iterable[str] = ()) -> DocumentDate:
    """When a document was issued or published, from the strongest evidence it gives.

    Args:
        title: The document's title.
        body: Its cleaned text (paragraphs joined by newlines); only its head and foot are read.
        file_name: The file's name without suffix, when the file holds this one document only
            (the name of a compilation dates the compilation, not each article).
        furniture: The lines cleaning removed from such a file as web page furniture, where a
            publication stamp (``发布时间：…``) sits.
    """
    found = [(source, date) for source, date in _evidence(title, body, file_name, furniture) if date]
    if not found:
        return DocumentDate()
    year_source, first = found[0]
    full = next(((source, d) for source, d in found if d.year == first.year and d.month), None)
    return DocumentDate(first.year, full[1].iso() if full else None, year_source, full[0] if full else None)
