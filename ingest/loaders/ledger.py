"""Ledger sheets (问题清单, 整改台账): a grid of cells in, one ``Line`` per data row out.

Shared by the .xlsx and .csv loaders. A sheet is read as an inspection office lays one out:

- an optional title row above the header (one cell, often merged across the columns:
  ``XX县巡察反馈问题整改台账``; a leading ``附件2：`` is dropped), taken as the document's title;
- a header row of column names, found as the first row (of the first 20) whose cells are all
  short labels (no colon, not a number), at least two of them;
- header rows below it when the header spans two or three rows: a group cell (``整改情况``,
  merged over ``整改措施`` and ``完成时限``, or left blank to their right in a .csv) with its
  labels on the next row. A column is named by its lowest label (``整改措施``); when two columns
  would get the same name, they keep as many labels above it as tell them apart (``计划·完成时限``);
- data rows: each becomes ``问题描述：… ｜ 整改措施：… ｜ 责任单位：…`` (empty cells left out,
  the ``序号`` column too), carrying its own 1-based row number and the sheet's name. A merged
  cell that spans several data rows (one 责任单位 for three problems) fills every row it spans.
  Empty rows, totals rows (合计 / 总计 / 小计) and repeats of the header are skipped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from ingest.errors import LoadError
from ingest.loaders._text import tidy_line
from ingest.models import Line, LoadedFile

logger = logging.getLogger(__name__)

HEADER_SEARCH_ROWS = 20
MAX_HEADER_ROWS = 3
MAX_LABEL_CHARS = 30
MAX_TITLE_CHARS = 80
ROW_SEPARATOR = " ｜ "
# A column of running numbers says nothing the row number does not.
SKIPPED_COLUMNS = {"序号"}
_TOTALS = re.compile(r"^(?:合计|总计|小计)(?:[:：].*)?$")
_ANNEX = re.compile(r"^附件\s*[\d一二三四五六七八九十]*\s*[：:]?\s*")
# A number, a date or an amount is a value, never a column's name.
_NUMBERISH = re.compile(r"^[\d\s.,%/:：年月日-]+$")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
# Columns whose numbers are dates: an Excel serial number there is shown as the date it stands for.
_DATE_COLUMN = re.compile(r"时限|日期|时间|期限")

Cell = tuple[int, int]


@dataclass
class Grid:
    """One sheet's non-empty cells as text, 1-based (row, column), and its merged ranges.

    Attributes:
        name: The sheet's name ("" for a .csv).
        cells: The text of each non-empty cell (a merged range's text sits in its top-left cell).
        merges: Merged ranges as (first row, first column, last row, last column).
        serial_dates: Cells holding a plain number that reads as an Excel date serial: the date,
            shown instead of the number in a date column (完成时限, 日期...).
    """

    name: str
    cells: dict[Cell, str]
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    serial_dates: dict[Cell, datetime] = field(default_factory=dict)


@dataclass
class SheetRows:
    """What a sheet gives: its title row (or None) and its data rows; ``problem`` says why it gave none."""

    title: str | None
    lines: list[Line]
    problem: str | None = None


def date_text(value: datetime) -> str:
    """A date as a reader writes it: ``2024年3月31日`` (with ``HH:MM`` when the time is not midnight)."""
    text = f"{value.year}年{value.month}月{value.day}日"
    if (value.hour, value.minute) != (0, 0):
        text += f" {value.hour:02d}:{value.minute:02d}"
    return text


def cell_text(text: str) -> str:
    """A text cell on one line: its line breaks and runs of spaces become one space."""
    return " ".join(word for line in text.splitlines() for word in tidy_line(line).split())


def label_text(text: str) -> str:
    """A header cell as a column name: no line breaks, no spaces between Chinese characters."""
    return " ".join(_CJK_GAP.sub("", text).split())


def _is_label(text: str) -> bool:
    text = text.strip()
    return (0 < len(text) <= MAX_LABEL_CHARS and "：" not in text and ":" not in text
            and not _NUMBERISH.match(text))


def read_rows(grid: Grid) -> SheetRows:
    """Find the title, the header and the data rows of one sheet."""
    if not grid.cells:
        return SheetRows(None, [], "empty")
    rows = _rows(grid.cells)
    last_row = max(rows)
    header = next((r for r in range(1, min(last_row, HEADER_SEARCH_ROWS) + 1)
                   if len(rows.get(r, {})) >= 2 and all(_is_label(t) for t in rows[r].values())), None)
    if header is None:
        return SheetRows(None, [], f"no header row (a row of column names) in its first {HEADER_SEARCH_ROWS} rows")
    title = _title(rows, header)
    filled = _fill_header(grid)
    header_rows = [header]
    while len(header_rows) < MAX_HEADER_ROWS and _continues_header(grid, rows, header_rows[-1]):
        header_rows.append(header_rows[-1] + 1)
    paths = _header_paths(grid, rows, filled, header_rows)
    labels = _labels(paths)
    values = _fill_data(grid)
    lines = []
    for r in range(header_rows[-1] + 1, last_row + 1):
        cells = values.get(r, {})
        if cells and all(label_text(text) in paths.get(c, []) for c, text in cells.items()):
            continue  # the header again (a table printed in pages repeats it)
        text = _row_text(grid, labels, cells, r)
        if text:
            lines.append(Line(text, joinable=False, row=r, sheet=grid.name))
    if not lines:
        return SheetRows(title, [], "a header but no data rows under it")
    return SheetRows(title, lines)


def _rows(cells: dict[Cell, str]) -> dict[int, dict[int, str]]:
    rows: dict[int, dict[int, str]] = {}
    for (r, c), text in cells.items():
        rows.setdefault(r, {})[c] = text
    return rows


def _title(rows: dict[int, dict[int, str]], header: int) -> str | None:
    """The first row above the header that holds one short text and no label：value pair."""
    for r in range(1, header):
        texts = set(rows.get(r, {}).values())
        if len(texts) != 1:
            continue
        text = " ".join(_ANNEX.sub("", texts.pop()).split())
        if text and len(text) <= MAX_TITLE_CHARS and "：" not in text and ":" not in text:
            return text
    return None


def _fill_header(grid: Grid) -> dict[Cell, str]:
    """Every cell of a merged range holds its text (a group label stands over each of its columns)."""
    filled = dict(grid.cells)
    for r1, c1, r2, c2 in grid.merges:
        text = grid.cells.get((r1, c1))
        if text:
            filled.update({(r, c): text for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)})
    return filled


def _gap_anchors(grid: Grid, rows: dict[int, dict[int, str]], r: int) -> dict[int, int]:
    """Blank header cells of row ``r`` right of a label (as a group label is laid out without merges,
    in a .csv), up to the width of the row below: each blank column and the column of its label."""
    written = rows.get(r, {})
    if not written:
        return {}
    width = max([*written, *rows.get(r + 1, {})])
    anchors: dict[int, int] = {}
    for c in range(min(written) + 1, width + 1):
        if c not in written and not _merged(grid, r, c):
            anchors[c] = max(k for k in written if k < c)
    return anchors


def _merged(grid: Grid, r: int, c: int) -> bool:
    return any(r1 <= r <= r2 and c1 <= c <= c2 for r1, c1, r2, c2 in grid.merges)


def _continues_header(grid: Grid, rows: dict[int, dict[int, str]], r: int) -> bool:
    """True when row ``r + 1`` holds the labels under the group labels of row ``r``: a merged range
    across columns that ends on row ``r``, or a label with blanks to its right."""
    below = rows.get(r + 1, {})
    if not below or not all(_is_label(t) for t in below.values()):
        return False
    groups = {c for r1, c1, r2, c2 in grid.merges if r1 <= r == r2 and c2 > c1 for c in range(c1, c2 + 1)}
    for c, anchor in _gap_anchors(grid, rows, r).items():
        groups.update((c, anchor))
    return bool(groups) and set(below) <= groups


def _header_paths(grid: Grid, rows: dict[int, dict[int, str]], filled: dict[Cell, str],
                  header_rows: list[int]) -> dict[int, list[str]]:
    """Each column's header labels, top to bottom (``["整改情况", "整改措施"]``)."""
    anchors = {r: _gap_anchors(grid, rows, r) for r in header_rows[:-1]}
    width = max((c for (r, c) in filled if r in header_rows), default=0)
    paths: dict[int, list[str]] = {}
    for c in range(1, width + 1):
        path: list[str] = []
        for r in header_rows:
            text = filled.get((r, c))
            if text is None and c in anchors.get(r, {}):
                text = filled.get((r, anchors[r][c]))
            text = label_text(text) if text else ""
            if text and (not path or path[-1] != text):
                path.append(text)
        paths[c] = path
    return paths


def _labels(paths: dict[int, list[str]]) -> dict[int, str]:
    """Each column's name: its lowest header label; where columns would share one, as many labels
    above it as tell them apart (``计划·完成时限``)."""
    labels: dict[int, str] = {}
    for c, path in paths.items():
        twins = [p for k, p in paths.items() if k != c and p and path and p[-1] == path[-1]]
        depth = 1
        while depth < len(path) and any(p[-depth:] == path[-depth:] for p in twins):
            depth += 1
        labels[c] = "·".join(path[-depth:])
    return labels


def _fill_data(grid: Grid) -> dict[int, dict[int, str]]:
    """Data cells by row; a merged cell fills every row it spans, once (in its first column)."""
    values = _rows(grid.cells)
    for r1, c1, r2, _ in grid.merges:
        text = grid.cells.get((r1, c1))
        if text:
            for r in range(r1 + 1, r2 + 1):
                values.setdefault(r, {})[c1] = text
    return values


def _row_text(grid: Grid, labels: dict[int, str], cells: dict[int, str], r: int) -> str:
    """``label：value`` pairs joined by `` ｜ ``; "" for an empty or totals row."""
    parts: list[tuple[str, str]] = []
    for c in sorted(cells):
        label = labels.get(c, "")
        if label in SKIPPED_COLUMNS:
            continue
        text = cells[c]
        serial = grid.serial_dates.get((r, c))
        if serial is not None and _DATE_COLUMN.search(label):
            text = date_text(serial)
        text = " ".join(text.split())
        if text:
            parts.append((label, text))
    if not parts:
        return ""
    if any(_TOTALS.match(label_text(cells[c])) for c in cells):
        return ""
    return ROW_SEPARATOR.join(f"{label}：{text}" if label else text for label, text in parts)


def ledger_file(grids: list[Grid], format: str, name: str = "") -> LoadedFile:
    """The data rows of every sheet, in order, and the first title row found.

    A sheet that gives no rows is passed over, and logged under the file's ``name`` unless it is empty.

    Raises:
        LoadError: no sheet gives a data row; the message says why for each sheet.
    """
    title: str | None = None
    lines: list[Line] = []
    problems: list[str] = []
    for grid in grids:
        sheet = read_rows(grid)
        if sheet.problem:
            where = f"sheet '{grid.name}'" if grid.name else ""
            problems.append(f"{where}: {sheet.problem}" if where else sheet.problem)
            if sheet.problem != "empty":
                logger.info("%s: %s passed over: %s", name, where or "the table", sheet.problem)
            continue
        title = title or sheet.title
        lines.extend(sheet.lines)
    if not lines:
        raise LoadError(f"no data rows ({'; '.join(problems)})")
    return LoadedFile(lines=lines, format=format, title=title)
