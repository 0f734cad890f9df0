"""OCR speed and accuracy: seconds per A4 page and character error rate per file.

    .venv/bin/python benchmarks/bench_ocr.py [--runs 3] [--threads 0]

Files, made from the two report pages in tests/data/ocr/ (known text beside them): each page as a
200 dpi PNG, both as an image-only PDF, and page 1 photographed (on its side, askew, uneven light,
blur, noise, JPEG 70). Each file is loaded with `ingest.loaders.load_file` as ingest does; the OCR
engine is loaded once before timing. Seconds per page: median and min–max over every page of
every run; CPU s/page is the process's CPU time (all threads), steadier than wall time when other
programs share the cores. CER: edit distance over the known text's length, whitespace removed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="times each file is read")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default, all cores)")
    args = parser.parse_args()

    from ingest.loaders import load_file
    from ingest.loaders.ocr import _engine
    from tests.ocr_pages import REPORT, REPORT_PAGES, character_error_rate, image_pdf, known_text, photograph, render

    engine = _engine()
    if args.threads:
        engine.cfg.EngineConfig.onnxruntime.intra_op_num_threads = args.threads
    folder = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    scans = [render(REPORT, index) for index in range(len(REPORT_PAGES))]
    files: list[tuple[str, Path, list[int]]] = []
    for scan, original in zip(scans, REPORT_PAGES):
        path = folder / f"page{original}.png"
        scan.save(path)
        files.append((f"page {original}, 200 dpi PNG", path, [original]))
    files.append(("pages 1+4, image-only PDF", image_pdf(scans, folder / "scan.pdf"), list(REPORT_PAGES)))
    photo = folder / "photo.jpg"
    photograph(scans[0]).save(photo, quality=70)
    files.append(("page 1 photographed, on its side", photo, [REPORT_PAGES[0]]))

    load_file(files[0][1])  # warm up: sessions built, first-run allocations done
    print(f"cores: {os.cpu_count()}   ORT threads: {args.threads or 'default'}   runs: {args.runs}   "
          f"load average: {os.getloadavg()[0]:.1f}")
    print()
    print("| file | pages | chars | s/page median | s/page min–max | CPU s/page | CER |")
    print("|---|---|---|---|---|---|---|")
    every: list[float] = []
    for name, path, originals in files:
        per_page: list[float] = []
        cpu: list[float] = []
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            loaded = load_file(path)
            per_page.append((time.perf_counter() - started) / len(originals))
            cpu.append((time.process_time() - cpu_started) / len(originals))
        every.extend(per_page)
        text = "\n".join(line.text for line in loaded.lines)
        known = "\n".join(known_text(page) for page in originals)
        chars = len("".join(known.split()))
        print(f"| {name} | {len(originals)} | {chars} | {statistics.median(per_page):.2f} | "
              f"{min(per_page):.2f}–{max(per_page):.2f} | {statistics.median(cpu):.2f} | {character_error_rate(text, known):.2%} |")
    print()
    print(f"all pages: {statistics.median(every):.2f} s per A4 page (median), "
          f"{min(every):.2f}–{max(every):.2f} s; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
