"""The composition root: the one place that builds configured objects from settings."""

from __future__ import annotations

import logging
import os
import re
from typing import Any
from urllib.parse import urlparse

from assistant.settings import Settings
from ingest.errors import ConfigError, StoreError, UsageError

log = logging.getLogger(__name__)


def apply_offline_environment(settings: Settings) -> None:
    """Turn off every phone-home before any library that reads these variables is imported."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if settings.hub_offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"


def build_chroma_client(settings: Settings) -> Any:
    """A Chroma client: ``HttpClient`` when XUNSHI_CHROMA_URL is set, else a store under home."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"XUNSHI_CHROMA_URL must look like http://host:port, got '{settings.chroma_url}'"
            )
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as e:  # chromadb raises plain ValueError/ConnectionError variants
            raise StoreError(f"cannot reach the Chroma server at {settings.chroma_url}: {e}") from e
    path = settings.home_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def embedding_config(settings: Settings) -> Any:
    """What the embedding layer needs from the settings."""
    from vectorstore.embeddings import EmbeddingConfig

    return EmbeddingConfig(
        model=settings.embed_model,
        models_path=settings.models_path,
        query_prompt=settings.embed_query_prompt,
        passage_prompt=settings.embed_passage_prompt,
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        precision=settings.embed_precision,
        query_engine=settings.query_engine,
        hub_offline=settings.hub_offline,
    )


def build_embeddings(settings: Settings) -> Any:
    """The configured embedding model, loaded from disk (queries need no PyTorch once it was exported)."""
    from vectorstore.embeddings import load_embeddings

    return load_embeddings(embedding_config(settings))


def build_store(settings: Settings, client: Any, embeddings: Any | None = None, read_only: bool = False,
                kb: str = "default") -> Any:
    """The chunk store of knowledge base ``kb``; without embeddings it is opened for listing and
    removing only. ``read_only``: opened as it is, creating and claiming nothing (EmptyStoreError if
    nothing was ever ingested). A knowledge base other than ``default`` must have been created
    (``xunshi kb create``; UsageError otherwise)."""
    from vectorstore.knowledge_bases import collection_name, knowledge_base_exists, unknown_message
    from vectorstore.store import ChunkStore

    if not knowledge_base_exists(client, settings.collection, kb):
        raise UsageError(unknown_message(client, settings.collection, kb))
    name = collection_name(settings.collection, kb)
    if embeddings is None:
        return ChunkStore(client, name, read_only=read_only)
    return ChunkStore(client, name, embeddings.model_name, embeddings.dimension, read_only=read_only)


def build_indexer(settings: Settings, store: Any, embeddings: Any, show_progress: bool = True) -> Any:
    """The indexer that ingests files into ``store``."""
    from vectorstore.indexing import Indexer

    return Indexer(store, embeddings, settings.chunk_size, settings.embed_batch_size, show_progress)


def build_lexical(settings: Settings, store: Any) -> Any:
    """The BM25 index derived from ``store``, cached under HOME/lexical/."""
    from vectorstore.lexical import LexicalIndex

    return LexicalIndex(store, build_lexical_path(settings, store.name))


def build_lexical_path(settings: Settings, collection: str) -> Any:
    """Where the BM25 cache of a collection (knowledge base) is kept: HOME/lexical/<key>."""
    return settings.home_dir / "lexical" / _cache_key(settings, collection)


def prepare_for_queries(settings: Settings, store: Any, embeddings: Any) -> None:
    """After an ingest: export the model for queries (once) and bring the lexical cache up to date,
    so that the first search after it starts as fast as any other."""
    embeddings.prepare_queries()
    embeddings.release_passage_model()
    build_lexical(settings, store).ensure_current()


def _cache_key(settings: Settings, collection: str) -> str:
    # One cache per collection (knowledge base) of a store: the embedded one, or each Chroma server.
    if not settings.chroma_url:
        return collection
    server = re.sub(r"[^A-Za-z0-9]+", "_", settings.chroma_url).strip("_")
    return f"{server}-{collection}"


def build_retriever(settings: Settings, store: Any, embeddings: Any, kb: str = "default") -> Any:
    """The retriever of knowledge base ``kb`` used by search: dense, lexical or fused (hybrid)."""
    from vectorstore.hybrid import FusionSettings, HybridRetriever

    fusion = FusionSettings(
        dense_weight=settings.fusion_dense_weight,
        lexical_weight=settings.fusion_lexical_weight,
        sentence_weight=settings.fusion_sentence_weight,
        rrf_k=settings.fusion_rrf_k,
        depth=settings.fusion_depth,
        knn_depth=settings.fusion_knn_depth,
        pool=settings.fusion_pool,
        phrase_bonus=settings.fusion_phrase_bonus,
    )
    from vectorstore.rerank import load_reranker

    reranker = load_reranker(settings.rerank_model, settings.rerank_top_n, settings.hub_offline)
    store.require_sentences()
    return HybridRetriever(store, embeddings, build_lexical(settings, store), fusion, reranker, kb=kb)


PROMPT_VARIABLES = {
    "answer": {"sources", "question"},
    "condense": {"history", "question"},
    "draft": {"topic", "sources", "length"},
}


def load_prompts() -> dict[str, str]:
    """Every prompt file, checked for its variables (a broken prompt stops start-up, not a request)."""
    from prompts import load_prompt

    return {name: load_prompt(name, variables) for name, variables in PROMPT_VARIABLES.items()}


def build_answerer(settings: Settings, retriever: Any, embeddings: Any) -> Any:
    """The answer step: extractive, or with the configured LLM."""
    from assistant.answer import Answerer
    from assistant.llm import build_chat_model

    return Answerer(retriever, embeddings, settings.relevance_threshold, build_chat_model(settings), load_prompts())
