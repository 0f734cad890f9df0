"""Optional reranking of the fused candidates with a sentence-transformers CrossEncoder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ingest.errors import EmbeddingModelError

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    """Re-scores the top candidates with a cross-encoder; the rest keep their fused order.

    Args:
        model: A loaded ``sentence_transformers.CrossEncoder``.
        top_n: How many of the fused candidates are re-scored.
    """

    def __init__(self, model: Any, top_n: int = 20) -> None:
        self.model = model
        self.top_n = top_n

    def rerank(self, query: str, fused: list[tuple], depth: int) -> list[tuple]:
        """``fused`` rows are ``(hit, score, dense_score, lexical_score)``; returns them reordered."""
        head, tail = fused[: self.top_n], fused[self.top_n :]
        if not head:
            return fused
        scores = self.model.predict([(query, row[0].text) for row in head], show_progress_bar=False)
        rescored = [(row[0], float(s), row[2], row[3]) for row, s in zip(head, scores)]
        rescored.sort(key=lambda row: row[1], reverse=True)
        return rescored + tail


def load_reranker(spec: str | None, top_n: int, hub_offline: bool = True) -> CrossEncoderReranker | None:
    """The cross-encoder named by XUNSHI_RERANK_MODEL (a local folder or a cached hub id), or None."""
    if not spec:
        return None
    path = Path(spec).expanduser()
    if not path.is_dir():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(spec, local_files_only=hub_offline))
        except Exception as e:  # noqa: BLE001 - not cached or bad id: the same advice
            raise EmbeddingModelError(
                f"reranker {spec!r} is not on this machine: set XUNSHI_RERANK_MODEL to a local "
                "cross-encoder folder (e.g. a copy of BAAI/bge-reranker-base) or unset it"
            ) from e
    try:
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(str(path), device="cpu", local_files_only=hub_offline)
    except Exception as e:  # noqa: BLE001 - any load failure is the same problem to the user
        raise EmbeddingModelError(f"cannot load reranker {spec!r} from {path}: {e}; check XUNSHI_RERANK_MODEL") from e
    log.info("reranking the top %d candidates with %s", top_n, spec)
    return CrossEncoderReranker(model, top_n)
