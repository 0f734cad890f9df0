"""kill -9 an ingest at several points, run it again: the store (chunks and their sentences) ends as if
nothing had happened."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
SAMPLE = next((ROOT / "examples").glob("*.txt"))


def make_corpus(folder: Path, variant: str) -> None:
    """Four files, each three articles long: enough that an ingest takes several seconds of writing."""
    folder.mkdir(exist_ok=True)
    text = SAMPLE.read_text(encoding="utf-8")
    for i in range(4):
        (folder / f"汇编{i}.txt").write_text(text.replace("2021年", f"20{10 + i}年").replace("。", f"。{variant}", 1),
                                           encoding="utf-8")


SNAPSHOT = """
import json, sys
sys.path.insert(0, "tests")
from assistant.services import build_chroma_client, build_store
from assistant.settings import Settings
from store_checks import assert_sentences_in_step
settings = Settings()
store = build_store(settings, build_chroma_client(settings))
assert_sentences_in_step(store)  # no orphan sentence, no chunk without its sentences
orders = {r["id"]: r["metadata"]["order"] for r in store.iter_records()}
found = store.sentences.collection.get(include=["documents", "metadatas"])
print(json.dumps({"records": [[r["id"], r["metadata"]["doc_id"], r["metadata"]["order"], r["text"]]
                              for r in store.iter_records()],
                  "sentences": sorted([m["doc_id"], orders[m["chunk_id"]], m["start"], m["end"], t]
                                      for t, m in zip(found["documents"], found["metadatas"])),
                  "docs": [[d.title, d.doc_id, d.content_hash, d.chunks, d.expected_chunks, d.versions]
                           for d in store.documents()]}, ensure_ascii=False))
"""


def env_for(home: Path, models: Path) -> dict:
    return {**os.environ, "XUNSHI_HOME": str(home), "XUNSHI_MODELS_DIR": str(models)}


def snapshot(home: Path, models: Path) -> tuple:
    """The store's contents, read by a separate process (embedded Chroma belongs to one process at a time)."""
    import json

    out = subprocess.run([sys.executable, "-c", SNAPSHOT], cwd=ROOT, env=env_for(home, models), capture_output=True,
                         text=True, timeout=300, check=True).stdout
    data = json.loads(out)
    ids = [r[0] for r in data["records"]]
    docs = sorted(tuple(d) for d in data["docs"])
    texts = sorted((r[1], r[2], r[3]) for r in data["records"])
    sentences = [tuple(x) for x in data["sentences"]]
    return len(ids), len(set(ids)), docs, texts, sentences


def ingest(home: Path, folder: Path, models: Path) -> None:
    subprocess.run([sys.executable, "-m", "assistant", "ingest", str(folder), "-q"], cwd=ROOT,
                   env=env_for(home, models), capture_output=True, timeout=600, check=True)


def ingest_and_kill(home: Path, folder: Path, models: Path, delay: float) -> bool:
    """Start `xunshi ingest`, wait until the model is loaded, then `delay` s, then SIGKILL. True if killed."""
    process = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(folder), "-q"], cwd=ROOT,
                               env=env_for(home, models),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if "Embedding model" in line:
            break
    time.sleep(delay)
    if process.poll() is not None:
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return True


def test_kill_9_during_ingest_and_update_then_rerun_matches_an_uninterrupted_run(tmp_path, e5_model_dir):
    models = e5_model_dir.parent
    folder = tmp_path / "docs"
    make_corpus(folder, "")
    ingest(tmp_path / "reference", folder, models)
    expected_first = snapshot(tmp_path / "reference", models)
    assert expected_first[0] == expected_first[1] > 80
    make_corpus(folder, "（修订）")
    ingest(tmp_path / "reference", folder, models)
    expected_second = snapshot(tmp_path / "reference", models)

    kills = 0
    for point, delay in enumerate([0.5, 2.0, random.Random(20261127).uniform(2.5, 5)]):
        home = tmp_path / f"run-{point}"
        make_corpus(folder, "")
        kills += ingest_and_kill(home, folder, models, delay)
        ingest(home, folder, models)
        got = snapshot(home, models)
        assert got[0] == got[1], "duplicate chunk ids"
        assert got == expected_first, f"after a kill at {delay:.1f} s"

        # An update of every file, killed part-way, then run again.
        make_corpus(folder, "（修订）")
        kills += ingest_and_kill(home, folder, models, delay)
        ingest(home, folder, models)
        got = snapshot(home, models)
        assert got == expected_second, f"after a kill at {delay:.1f} s during an update"
        assert all(d[3] == d[4] and d[5] == 1 for d in got[2]), "an incomplete or doubled document version"
    assert kills >= 4, "the kills came too late to interrupt anything"
