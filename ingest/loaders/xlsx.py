"""Excel .xlsx workbooks: every sheet's data rows, one ``Line`` each (see ``ingest.loaders.ledger``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from ingest.errors import LoadError
from ingest.loaders._zip import MAX_UNCOMPRESSED_BYTES, refuse_bad_archive
from ingest.loaders.ledger import Grid, cell_text, date_text, ledger_file
from ingest.models import LoadedFile

# A sheet larger than this is refused rather than held in memory (openpyxl keeps every cell).
MAX_CELLS = 5_000_000
# Excel date serials of 1954..2064: a plain number in this range in a date column is a date.
SERIAL_DATES = (20_000, 60_000)

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The stream an Office file encrypted with a password holds (its directory name in UTF-16).
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")


def load_xlsx(path: Path) -> LoadedFile:
    """Load an .xlsx workbook: the data rows of all its sheets, in sheet order.

    Formulas give their last computed values; dates come out as ``2024年3月31日``; merged cells
    are read as described in ``ingest.loaders.ledger``.

    Raises:
        LoadError: corrupt or not an .xlsx, password-protected, an old .xls, a zip bomb, a sheet too
            large, or no sheet with data rows.
    """
    # openpyxl takes ~0.4 s to import: only when a workbook is read, not whenever loaders are listed.
    import openpyxl
    from openpyxl.worksheet.worksheet import Worksheet

    _refuse_bad_package(path)
    try:
        # Not read_only: only a full worksheet knows its merged cells.
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as e:  # openpyxl lets KeyError, zipfile, lxml and ValueError errors through
        raise LoadError(f"corrupt .xlsx: {type(e).__name__}: {e}: open it in Excel or WPS and save it again") from e
    try:
        grids = [_grid(sheet) for sheet in workbook.worksheets if isinstance(sheet, Worksheet)]
    finally:
        workbook.close()
    return ledger_file(grids, "xlsx", path.name)


def _refuse_bad_package(path: Path) -> None:
    """Check the zip before openpyxl inflates any part: encrypted, an old .xls, not a zip, a zip bomb."""
    with path.open("rb") as f:
        head = f.read(len(_OLE_SIGNATURE))
        if head == _OLE_SIGNATURE:
            body = f.read(MAX_UNCOMPRESSED_BYTES)
            if _ENCRYPTION_INFO in body:
                raise LoadError("encrypted workbook (password-protected): remove the password in Excel or WPS "
                                "and save it again")
            raise LoadError("an old Excel 97-2003 workbook (.xls) named .xlsx: save it as .xlsx in Excel or WPS")
    refuse_bad_archive(path, ".xlsx")


def _grid(sheet: Any) -> Grid:
    """An openpyxl ``Worksheet`` as a grid of cell texts."""
    from openpyxl.utils.datetime import from_excel

    if sheet.max_row * sheet.max_column > MAX_CELLS:
        raise LoadError(f"sheet '{sheet.title}' is too large ({sheet.max_row:,} rows × {sheet.max_column:,} "
                        "columns): split it or delete the empty rows and columns it spans")
    grid = Grid(name=sheet.title, cells={},
                merges=[(m.min_row, m.min_col, m.max_row, m.max_col) for m in sheet.merged_cells.ranges])
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            text = value_text(cell.value, cell.number_format or "")
            if text:
                grid.cells[(cell.row, cell.column)] = text
            if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool) \
                    and SERIAL_DATES[0] <= cell.value <= SERIAL_DATES[1]:
                grid.serial_dates[(cell.row, cell.column)] = from_excel(cell.value)
    return grid


def value_text(value: object, number_format: str = "General") -> str:
    """A cell's value as the sheet shows it, near enough: dates as ``2024年3月31日``, whole numbers
    without ``.0``, percentages with ``%``."""
    if isinstance(value, datetime):
        return date_text(value)
    if isinstance(value, date):
        return date_text(datetime.combine(value, time()))
    if isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        if "%" in number_format:
            return f"{value * 100:.10g}%"
        return str(int(value)) if float(value).is_integer() else f"{value:.10g}"
    return cell_text(str(value))
