"""How ingest and search costs grow with the store: 1k, 10k and 100k chunks of synthetic documents.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1000,10000,100000] [--embed-up-to 10000]
        [--probe-docs 10] [--queries 100] [--public DIR] [--models-dir DIR] [--seed 0]

The synthetic corpus is built from the public corpus (../shared/corpus/public by default, not shipped):
each synthetic_NNNN.txt is one public document, its headings kept, with a different year and province or
city in its title (and the place named in the title replaced throughout), a few neighbouring paragraphs
swapped within their section, and one paragraph of another document appended. It is reproducible for a
given --seed.

Each size runs in its own subprocess and fresh xunshi home, so peak RSS is that size's:
- fill: the store is filled to about that many chunks. Up to --embed-up-to, by really ingesting synthetic
  documents (fill chars/s = cleaned characters / seconds); above it, by copying the chunks of the largest
  really-ingested store (text and metadata as they are, each vector with a little noise, renormalised, as
  bench_search.py does), without re-embedding.
- probe ingest: --probe-docs other synthetic documents, the same at every size, are then ingested for real
  (load, clean, chunk, embed, write), so that the growth of the ingest cost with the store shows.
- search, after the probe: the first build of the lexical index, then warm hybrid and dense latency over
  --queries dev-set questions, k=5, each query embedded anew.
- disk (everything under the home: Chroma and the lexical cache) and memory (peak RSS, RSS after search).

Progress goes to stderr, the table to stdout. The default sizes take about half an hour on 2 cores, most
of it the real ingest of 10k chunks.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_ingest import cores
from bench_search import build_copy, latencies, questions, rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PUBLIC = ROOT.parent / "shared" / "corpus" / "public"

PROVINCES = "河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 云南 陕西 甘肃 青海"
CITIES = "北京 天津 上海 重庆 南京 杭州 苏州 宁波 合肥 厦门 济南 青岛 郑州 武汉 长沙 广州 深圳 成都 西安"
REGIONS = "内蒙古 广西壮族 西藏 宁夏回族 新疆维吾尔"
# (name, suffix): a place named in a title is only ever replaced by one of the same kind.
PLACES = ([(name, "省") for name in PROVINCES.split()] + [(name, "市") for name in CITIES.split()]
          + [(name, "自治区") for name in REGIONS.split()])
YEARS = range(2015, 2027)
YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
SWAP_SHARE = 0.2  # chance that a body paragraph changes places with the next one of its section
MIN_BORROWED_CHARS = 40
FILL_BATCH = 20  # files per ingest call while filling (one progress line each)


@dataclass
class Original:
    """A cleaned public document: its title, paragraphs, and which paragraphs are headings."""

    title: str
    paragraphs: list[str]
    headings: list[bool]


@dataclass
class CorpusFile:
    """A synthetic file with its cleaned characters and chunks, as the ingest pipeline counts them."""

    path: str
    chars: int
    chunks: int


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the synthetic corpus ----------------------------------------------------------------------


def originals(public: Path) -> list[Original]:
    from ingest.pipeline import load_documents
    from ingest.structure import outline

    docs = []
    for path in sorted(public.glob("*.txt")):
        for doc in load_documents(path):
            # A title taken from the file name ("xtjeyvc_巡视_专项巡视…") keeps its longest Chinese part.
            title = max(path.stem.split("_"), key=lambda part: (not part.isascii(), len(part)))
            title = title if doc.title == path.stem else doc.title
            headings = [h is not None for h in outline(doc.paragraphs)]
            docs.append(Original(title, [p.text for p in doc.paragraphs], headings))
    return docs


def place_in(title: str) -> tuple[str, str] | None:
    return next((place for place in PLACES if "".join(place) in title), None)


def variants(doc: Original, rng: random.Random) -> list[tuple[int, tuple[str, str]]]:
    """(year, place) for each copy of ``doc``, all different, in a seeded order."""
    own = place_in(doc.title)
    places = [p for p in PLACES if own is None or (p[1] == own[1] and p != own)]
    combos = [(year, place) for year in YEARS for place in places]
    rng.shuffle(combos)
    return combos


def reshuffled(doc: Original, rng: random.Random) -> list[str]:
    """The paragraphs with a few neighbours swapped; headings stay where they are."""
    out = list(doc.paragraphs)
    i = 0
    while i < len(out) - 1:
        if not (doc.headings[i] or doc.headings[i + 1]) and rng.random() < SWAP_SHARE:
            out[i], out[i + 1] = out[i + 1], out[i]
            i += 2
        else:
            i += 1
    return out


def synthetic_text(doc: Original, year: int, place: tuple[str, str], other: Original, rng: random.Random) -> str:
    own = place_in(doc.title)
    title = doc.title.replace(own[0], place[0]) if own else "".join(place) + doc.title
    title = YEAR.sub(str(year), title) if YEAR.search(title) else f"{year}年{title}"
    body = [p.replace(own[0], place[0]) for p in reshuffled(doc, rng)] if own else reshuffled(doc, rng)
    borrowed = [p for p, h in zip(other.paragraphs, other.headings) if not h and len(p) >= MIN_BORROWED_CHARS]
    if borrowed:
        body.append(rng.choice(borrowed))
    main, _, subtitle = title.partition("——")
    head = f"{main}\n——{subtitle}" if main and subtitle else title
    return head + "\n\n" + "\n\n".join(body) + "\n"


def measure(path: Path, chunk_size: int) -> CorpusFile:
    from ingest.chunking import chunk_document
    from ingest.pipeline import load_documents

    docs = load_documents(path)
    return CorpusFile(str(path), sum(len(d.text) for d in docs), sum(len(chunk_document(d, chunk_size)) for d in docs))


def build_corpus(public: Path, folder: Path, probe_docs: int, fill_chunks: int, chunk_size: int,
                 seed: int) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Write synthetic documents, each public document in turn, until the probe set and enough
    fill documents for ``fill_chunks`` are there; return (probe files, fill files)."""
    rng = random.Random(seed)
    docs = originals(public)
    order = list(range(len(docs)))
    rng.shuffle(order)
    combos = [variants(doc, rng) for doc in docs]
    folder.mkdir(parents=True, exist_ok=True)
    files: list[CorpusFile] = []
    filled = 0
    while len(files) <= probe_docs or filled < fill_chunks:
        n = len(files)
        index, round_ = order[n % len(order)], n // len(order)
        year, place = combos[index][round_ % len(combos[index])]
        other = docs[rng.choice([i for i in order if i != index])]
        path = folder / f"synthetic_{n + 1:04d}.txt"
        path.write_text(synthetic_text(docs[index], year, place, other, rng), encoding="utf-8")
        files.append(measure(path, chunk_size))
        if n >= probe_docs:
            filled += files[-1].chunks
    return files[:probe_docs], files[probe_docs:]


def fill_prefix(files: list[CorpusFile], size: int) -> list[CorpusFile]:
    """The first fill files that reach ``size`` chunks together."""
    total = 0
    for n, f in enumerate(files):
        total += f.chunks
        if total >= size:
            return files[: n + 1]
    raise ValueError(f"the synthetic corpus holds only {total} fill chunks, not {size}")


# --- one size, in a child process ----------------------------------------------------------------


def ingest(indexer: Any, files: list[CorpusFile]) -> float:
    """Seconds to ingest ``files``; every one of them must be stored."""
    t0 = time.perf_counter()
    report = indexer.ingest([Path(f.path) for f in files])
    seconds = time.perf_counter() - t0
    if report.failed or report.skipped:
        raise RuntimeError(f"ingest left files out: {report.failed + report.skipped}")
    return seconds


def fill_by_ingest(indexer: Any, files: list[CorpusFile], tag: str) -> float:
    seconds, chars = 0.0, 0
    for start in range(0, len(files), FILL_BATCH):
        batch = files[start : start + FILL_BATCH]
        seconds += ingest(indexer, batch)
        chars += sum(f.chars for f in batch)
        log(f"{tag} fill: {indexer.store.count()} chunks, {seconds:.0f} s, {chars / seconds:,.0f} chars/s")
    return seconds


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024**2


def run_size(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill a fresh home, ingest the probe, search; the measurements as one JSON-able dict."""
    from assistant.services import (apply_offline_environment, build_chroma_client, build_embeddings,
                                    build_indexer, build_retriever, build_store)
    from assistant.settings import Settings

    tag = f"[{spec['size']}]"
    settings = Settings(home=spec["home"], models_dir=spec["models_dir"], chunk_size=spec["chunk_size"])
    apply_offline_environment(settings)
    embeddings = build_embeddings(settings)
    store = build_store(settings, build_chroma_client(settings), embeddings)
    indexer = build_indexer(settings, store, embeddings, show_progress=False)
    probe_files = [CorpusFile(**f) for f in spec["probe_files"]]

    if spec["copy_from"]:
        source_settings = settings.model_copy(update={"home": Path(spec["copy_from"])})
        source = build_store(source_settings, build_chroma_client(source_settings), embeddings)
        t0 = time.perf_counter()
        build_copy(source, store, spec["size"])
        fill_s = time.perf_counter() - t0
        fill_chars_s = None
        log(f"{tag} fill: copied {store.count()} chunks from {source.count()} in {fill_s:.0f} s")
    else:
        fill_files = [CorpusFile(**f) for f in spec["fill_files"]]
        fill_chars_s = sum(f.chars for f in fill_files) / fill_by_ingest(indexer, fill_files, tag)
    chunks = store.count()

    probe_s = ingest(indexer, probe_files)
    log(f"{tag} probe: {store.count() - chunks} chunks in {probe_s:.1f} s")

    retriever = build_retriever(settings, store, embeddings)
    t0 = time.perf_counter()
    retriever.lexical.ensure_current()
    lexical_s = time.perf_counter() - t0
    qs = questions(spec["queries"])
    hybrid = latencies(retriever, embeddings, qs, "hybrid")
    dense = latencies(retriever, embeddings, qs, "dense")
    log(f"{tag} search: lexical build {lexical_s:.1f} s, hybrid p50 {statistics.median(hybrid):.0f} ms")
    rss = rss_mb()
    result = {
        "chunks": chunks,
        "fill": "copied" if spec["copy_from"] else "ingest",
        "fill_chars_s": fill_chars_s,
        "probe_chars_s": sum(f.chars for f in probe_files) / probe_s,
        "probe_chunks": store.count() - chunks,
        "lexical_s": lexical_s,
        "hybrid_p50": statistics.median(hybrid),
        "hybrid_p95": hybrid[int(0.95 * len(hybrid)) - 1],
        "dense_p50": statistics.median(dense),
        "disk_mb": disk_mb(Path(spec["home"])),
        # The kernel updates the high-water mark lazily: it can lag the current RSS by a little.
        "peak_rss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss),
        "rss_mb": rss,
        "model": embeddings.model_name,
    }
    # Leave the home holding the fill only: a larger size may copy its chunks.
    probe_sources = {f.path for f in probe_files}
    for doc in store.documents():
        if doc.source in probe_sources:
            store.remove(doc.doc_id)
    return result


# --- the parent ------------------------------------------------------------------------------------


def run_child(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    spec_path = folder / f"spec-{spec['size']}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)],
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return f"{cores()} cores, {platform.machine()}, {mem_kb / 1024**2:.1f} GB RAM, Python {platform.python_version()}"


def print_table(rows: list[dict[str, Any]], probe: list[CorpusFile], args: argparse.Namespace) -> None:
    print(f"machine: {machine()}   model: {rows[0]['model']}   chunk size: {args.chunk_size}")
    print(f"probe: {len(probe)} documents, {sum(f.chars for f in probe):,} chars, {rows[0]['probe_chunks']} chunks, "
          f"ingested after the fill; search after the probe: {args.queries} warm queries, k=5; one process per row")
    print()
    header = ("chunks", "fill", "fill chars/s", "probe ingest chars/s", "lexical build s", "hybrid p50 ms",
              "hybrid p95 ms", "dense p50 ms", "disk MB", "peak RSS MB", "RSS after search MB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        fill_rate = f"{r['fill_chars_s']:,.0f}" if r["fill_chars_s"] else "—"
        print(f"| {r['chunks']:,} | {r['fill']} | {fill_rate} | {r['probe_chars_s']:,.0f} | {r['lexical_s']:.1f} "
              f"| {r['hybrid_p50']:.1f} | {r['hybrid_p95']:.1f} | {r['dense_p50']:.1f} | {r['disk_mb']:.0f} "
              f"| {r['peak_rss_mb']:.0f} | {r['rss_mb']:.0f} |")
    print()
    command = [".venv/bin/python", "benchmarks/bench_scale.py", "--sizes", args.sizes, "--embed-up-to",
               str(args.embed_up_to), "--probe-docs", str(args.probe_docs), "--queries", str(args.queries),
               "--chunk-size", str(args.chunk_size), "--seed", str(args.seed), "--public", str(args.public)]
    print("reproduce: " + shlex.join(command))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public", type=Path, default=DEFAULT_PUBLIC)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--embed-up-to", type=int, default=10000, help="larger sizes are filled by copying")
    parser.add_argument("--probe-docs", type=int, default=10)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--chunk-size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models-dir", type=Path, help="unpacked models, shared by every size (default: xunshi's)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_size(json.loads(args.child.read_text(encoding="utf-8")))))
        return

    from assistant.settings import Settings

    sizes = sorted(int(s) for s in args.sizes.split(","))
    ingested = [s for s in sizes if s <= args.embed_up_to]
    if not ingested:
        parser.error("at least one size must be <= --embed-up-to: larger ones are copied from it")
    if not args.public.is_dir():
        parser.error(f"no public corpus at {args.public} (see --public)")
    models_dir = str((args.models_dir or Settings().models_path).resolve())

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xunshi-scale-") as tmp:
        folder = Path(tmp)
        probe, fill = build_corpus(args.public, folder / "corpus", args.probe_docs, max(ingested),
                                   args.chunk_size, args.seed)
        log(f"corpus: {len(probe)} probe + {len(fill)} fill documents, {sum(f.chunks for f in fill)} fill chunks")
        rows, source = [], None
        for size in sizes:
            home = folder / f"home-{size}"
            copied = size > args.embed_up_to
            spec = {"size": size, "home": str(home), "models_dir": models_dir, "chunk_size": args.chunk_size,
                    "queries": args.queries, "copy_from": source if copied else None,
                    "fill_files": [] if copied else [asdict(f) for f in fill_prefix(fill, size)],
                    "probe_files": [asdict(f) for f in probe]}
            rows.append(run_child(spec, folder))
            if not copied:
                source = str(home)
            log(f"[{size}] done, {time.perf_counter() - started:.0f} s so far")
    print_table(rows, probe, args)


if __name__ == "__main__":
    main()
