"""Look at what ingest makes of a folder of real files: titles, metadata, sections, chunk sizes, oddities.

    .venv/bin/python benchmarks/inspect_ingest.py FOLDER [--chunk-size 300] [--sections 12] [--quiet]

For every supported file under FOLDER (recursively) prints each document's title, year, level,
number of chunks, min/median/max chunk length and its first distinct section paths, then the
suspicious things found, and a summary with the count of each kind of flag at the end.
This is a reading aid for people, not a test: a flag is something to look at, not always a bug.

Flags: title-is-file-name (no title line found), long-title, long-heading (a section heading over
60 characters: likely a body sentence), long-paragraph (over 2000 characters: lines glued
together), boilerplate (a source/editor/page-number line left in), short-chunk (under 40
characters), long-chunk (over twice the chunk size), cut-sentence (a chunk ending mid-sentence
inside its paragraph). "redacted" counts placeholders (x, xx, 20xx, x.xx, ×) kept in the text.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script from a checkout: the packages live next to benchmarks/, not in site-packages.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest.chunking import DEFAULT_CHUNK_SIZE, chunk_document  # noqa: E402
from ingest.errors import LoadError  # noqa: E402
from ingest.loaders import is_supported  # noqa: E402
from ingest.models import Chunk, SourceDocument  # noqa: E402
from ingest.pipeline import load_documents  # noqa: E402
from ingest.structure import MAX_HEADING_CHARS, parse_heading  # noqa: E402

SHORT_CHUNK = 40
LONG_PARAGRAPH = 2000
# A chunk should end where a sentence ends, or where its paragraph ends.
_CHUNK_END = "。！？；!?;：:”’』」）)》】…"
# Lines that are page furniture or web boilerplate rather than text.
_BOILERPLATE = re.compile(
    r"^(?:来源|稿源|责任编辑|编辑|责编|审核|校对|作者|发布时间|发布日期|浏览次数|点击数)\s*[：:]"
    r"|^[-—–－]?\s*\d{1,4}\s*[-—–－]?$|^#{2,}[A-Za-z_]+#{2,}$|^目\s*录$"
)
_REDACTED = re.compile(r"(?<![A-Za-z])(?:20xx|x{1,4}(?:\.x{1,2})?|×{1,3})(?![A-Za-z])")


def flags_of(doc: SourceDocument, chunks: list[Chunk], size: int, stem: str) -> list[tuple[str, str]]:
    """The suspicious things in one document, as ``(kind, detail)``."""
    found: list[tuple[str, str]] = []
    if doc.title == stem:
        found.append(("title-is-file-name", doc.title))
    if len(doc.title) > MAX_HEADING_CHARS:
        found.append(("long-title", doc.title[:80]))
    for para in doc.paragraphs:
        if len(para.text) > LONG_PARAGRAPH:
            found.append(("long-paragraph", f"{len(para.text)} chars: {para.text[:40]}…"))
        if _BOILERPLATE.match(para.text):
            found.append(("boilerplate", para.text[:60]))
        heading = parse_heading(para.text, para.heading_level)
        if heading and len(heading.text) > MAX_HEADING_CHARS:
            found.append(("long-heading", heading.text[:80]))
    for chunk in chunks:
        text = chunk.text.strip()
        if len(text) < SHORT_CHUNK:
            found.append(("short-chunk", f"{len(text)}: {text}"))
        if len(text) > 2 * size:
            found.append(("long-chunk", f"{len(text)}: {text[:40]}…"))
        paragraph_end = chunk.end >= len(doc.text) or doc.text[chunk.end] == "\n"
        if text[-1] not in _CHUNK_END and not paragraph_end:
            found.append(("cut-sentence", f"…{text[-30:]}"))
    return found


def report_file(path: Path, size: int, sections: int, quiet: bool) -> Counter[str]:
    """Print one file's documents and flags; return the flag counts."""
    counts: Counter[str] = Counter()
    try:
        docs = load_documents(path)
    except LoadError as e:
        print(f"\n## {path.name}: cannot load: {e}")
        counts["load-error"] += 1
        return counts
    print(f"\n## {path.name}  ({len(docs)} document{'s' if len(docs) != 1 else ''})")
    counts["documents"] += len(docs)
    for doc in docs:
        chunks = chunk_document(doc, size)
        lengths = [len(c.text) for c in chunks] or [0]
        counts["chunks"] += len(chunks)
        counts["redacted"] += len(_REDACTED.findall(doc.text))
        print(f"  title: {doc.title}")
        print(
            f"    year={doc.year} level={doc.level} chunks={len(chunks)} "
            f"len min/median/max={min(lengths)}/{int(statistics.median(lengths))}/{max(lengths)}"
        )
        paths = list(dict.fromkeys(c.section for c in chunks))
        counts["sections"] += len(paths)
        if not quiet:
            for section in paths[:sections]:
                print(f"    § {section or '(none)'}")
            if len(paths) > sections:
                print(f"    § … {len(paths) - sections} more")
        for kind, detail in flags_of(doc, chunks, size, path.stem):
            counts[kind] += 1
            print(f"    ! {kind}: {detail}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--sections", type=int, default=12, help="section paths shown per document")
    parser.add_argument("--quiet", action="store_true", help="no section paths, only titles, numbers, flags")
    args = parser.parse_args()

    files = sorted(p for p in args.folder.rglob("*") if p.is_file() and is_supported(p))
    total: Counter[str] = Counter()
    for path in files:
        total += report_file(path, args.chunk_size, args.sections, args.quiet)
    print(f"\n== summary: {len(files)} files")
    for key in ("documents", "chunks", "sections", "redacted"):
        print(f"  {key}: {total.pop(key, 0)}")
    for kind, n in sorted(total.items()):
        print(f"  ! {kind}: {n}")


if __name__ == "__main__":
    main()
