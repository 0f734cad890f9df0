"""CSV files (UTF-8 with or without BOM, GBK, GB18030): the data rows, one ``Line`` each.

The encoding is detected as for plain text; the delimiter is the one of ``,`` tab ``;`` that the
opening lines use most. Rows are numbered by record, as a spreadsheet shows the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders._text import decode_text
from ingest.loaders.ledger import Grid, cell_text, ledger_file
from ingest.models import LoadedFile

_DELIMITERS = (",", "\t", ";")
SNIFF_LINES = 10


def load_csv(path: Path) -> LoadedFile:
    """Load a .csv file as one sheet (its rows have the sheet name "").

    Raises:
        LoadError: binary content, empty, a broken quote, or no header row with data rows under it.
    """
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise LoadError("empty file")
    opening = text.splitlines()[:SNIFF_LINES]
    delimiter = max(_DELIMITERS, key=lambda d: sum(line.count(d) for line in opening))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    grid = Grid(name="", cells={})
    try:
        for r, record in enumerate(reader, 1):
            for c, value in enumerate(record, 1):
                value = cell_text(value)
                if value:
                    grid.cells[(r, c)] = value
    except csv.Error as e:
        raise LoadError(f"not a readable CSV (line {reader.line_num}: {e})") from e
    return ledger_file([grid], "csv", path.name)
