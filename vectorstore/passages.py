"""Passage embedding through sentence-transformers (PyTorch): the engine that writes stored vectors.

Only processes that embed passages (ingest, reindex, an upload through the page) or that export
the query engine for the first time import anything from here; queries run through
``vectorstore.onnx_query`` without PyTorch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingest.errors import EmbeddingModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class TorchEncoder:
    """Embeds texts with a sentence-transformers model, a prompt before each, as float32 unit rows.

    Args:
        model: The loaded model.
        prompt: Text put before each text ("" for none).
        batch_size: Texts per forward pass.
        precision: ``bf16`` (bfloat16 autocast) or ``fp32``.
    """

    def __init__(self, model: SentenceTransformer, prompt: str, batch_size: int, precision: str = "fp32") -> None:
        self.model, self.prompt, self.batch_size, self.precision = model, prompt, batch_size, precision

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (the prompt is added here)."""
        texts = list(texts)

        def encode() -> np.ndarray:
            vectors = self.model.encode(
                texts,
                prompt=self.prompt or None,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return np.asarray(vectors, dtype=np.float32)

        if self.precision == "fp32":
            return encode()
        import torch

        # Linear layers and attention run in bfloat16 (and the ops after them in their dtype).
        with torch.autocast("cpu", dtype=torch.bfloat16):
            vectors = encode()
        # Made unit length again in float32, whatever precision the model's own normalization ran in.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def load_model(spec: str, path: Path, threads: int, hub_offline: bool, choices_help: str) -> SentenceTransformer:
    """The sentence-transformers model in ``path``, on CPU with ``threads`` threads (0 = all cores)."""
    _set_threads(threads)
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Its "Loading weights" bar would clutter stderr on every command.
        transformers_logging.disable_progress_bar()
        model = SentenceTransformer(str(path), device="cpu", local_files_only=hub_offline)
    except Exception as e:  # noqa: BLE001 - any load failure is the same problem to the user
        raise EmbeddingModelError(
            f"Cannot load embedding model {spec!r} from {path}: {e}. Set XUNSHI_EMBED_MODEL to {choices_help}."
        ) from e
    model.eval()
    return model


def model_prompts(model: SentenceTransformer) -> dict[str, str]:
    """The prompts a model declares (sentence-transformers fills in "" for the ones it does not)."""
    return {name: p for name, p in (getattr(model, "prompts", None) or {}).items() if p}


def model_dimension(model: SentenceTransformer) -> int:
    """Length of the model's embedding vectors."""
    # sentence-transformers 6 renamed get_sentence_embedding_dimension.
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (x86 AVX512-BF16 or AMX-BF16).

    Not ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: that is true on any CPU with AVX-512
    BW/VL/DQ, where oneDNN only emulates bf16 (no speed-up to expect from autocast).
    """
    import torch

    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def resolve_precision(precision: str) -> str:
    """``bf16`` or ``fp32`` for a passage precision setting; says once (debug) which and why."""
    if precision == "auto":
        fast = cpu_has_fast_bf16()
        resolved = "bf16" if fast else "fp32"
        why = "auto: this CPU has " + ("native bfloat16" if fast else "no native bfloat16")
    else:
        resolved, why = precision, "set by XUNSHI_EMBED_PRECISION"
    logger.debug("Passages are embedded in %s (%s)", resolved, why)
    return resolved


def thread_count(threads: int) -> int:
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

    threads = thread_count(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
