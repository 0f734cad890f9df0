"""Which date ingest reads for each document of a folder, and where from (no embedding, no store).

    .venv/bin/python benchmarks/dates_report.py FOLDER [--undated]

Prints one row per document: file, title, year, date (ISO, where known) and the evidence the year
and the date were read from (title, file name, headnote, issued, signature, document number,
in force; two when the date came from elsewhere than the year), then how many documents have a year. ``--undated`` lists only the documents without
one, with their first and last lines, to see what they state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest.errors import LoadError  # noqa: E402
from ingest.loaders import is_supported  # noqa: E402
from ingest.pipeline import load_documents  # noqa: E402


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--undated", action="store_true", help="only the documents without a year, with their ends")
    args = parser.parse_args()

    files = sorted(p for p in args.folder.rglob("*") if p.is_file() and is_supported(p))
    total = dated = with_date = 0
    print(f"{'year':>4}  {'date':<10}  {'read from':<26}  file · title")
    for path in files:
        try:
            docs = load_documents(path)
        except LoadError as e:
            print(f"{'':>4}  {'':<10}  {'cannot load':<26}  {path.name}: {e}")
            continue
        for doc in docs:
            total += 1
            dated += doc.year is not None
            with_date += doc.date is not None
            if args.undated and doc.year is not None:
                continue
            print(f"{doc.year or '-':>4}  {doc.date or '-':<10}  {doc.date_source or '-':<26}  "
                  f"{_cut(path.name, 60)} · {_cut(doc.title, 40)}")
            if args.undated:
                lines = doc.text.split("\n")
                for line in lines[:3] + ["…"] + lines[-3:]:
                    print(f"{'':>44}| {_cut(line, 70)}")
    print(f"\n{dated} of {total} documents have a year, {with_date} a full date (month or day).")


if __name__ == "__main__":
    main()
