"""Query embedding through ONNX Runtime: the same model, exported once, with no PyTorch at query time.

A query is one short text. Through PyTorch its forward pass costs ~27 ms on a 2-core CPU and the
process must first import torch and transformers (~5 s); ONNX Runtime runs the same graph in
~9 ms with the same numbers (max difference ~1e-6). Passages are still embedded by
sentence-transformers, so stored vectors never depend on this module.

The export is made once from the loaded sentence-transformers model (``torch.onnx``, no network)
and kept under ``<models>/onnx/``, keyed by the model folder and its files' sizes and times, so a
changed model gets a new export. The folder holds everything a query needs, read without torch or
transformers:

* ``model.onnx``: the transformer from token vectors to its last hidden state. The word-embedding
  lookup is taken out of the graph (for multilingual-e5-small it is a 250k x 384 table, ~384 MB
  in float32, of which a query reads a few dozen rows);
* ``token_rows.npy``: that table, memory-mapped, so only the rows a query reads are ever in memory;
* the tokenizer (``vectorstore.query_tokenizer``);
* ``plan.json``: pooling, dimension, prompts, padding and truncation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.query_tokenizer import load_query_tokenizer, save_query_tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

_POOLING = ("mean", "cls")
PLAN = "plan.json"
ROWS = "token_rows.npy"
# Bumped when the export's files change shape: older exports are then made again, once.
EXPORT_FORMAT = 2


class OnnxQueryEncoder:
    """Embeds texts like the sentence-transformers model it was exported from (mean or CLS pooling).

    Args:
        session: An ``onnxruntime.InferenceSession`` with inputs ``token_rows``, ``attention_mask``
            (and ``input_ids`` where the model derives positions from them), output ``hidden``.
        tokenizer: Texts to (ids, mask) arrays.
        rows: The word-embedding table (memory-mapped).
        pooling: ``mean`` or ``cls``.
        normalize: Scale each vector to unit length.
    """

    def __init__(self, session: Any, tokenizer: Any, rows: np.ndarray, *, pooling: str, normalize: bool) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.rows = rows
        self.pooling = pooling
        self.normalize = normalize
        self._inputs = {node.name for node in session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (prompts already prepended) as float32 rows."""
        ids, mask = self.tokenizer(list(texts))
        feed = {"token_rows": np.asarray(self.rows[ids], dtype=np.float32), "attention_mask": mask}
        if "input_ids" in self._inputs:
            feed["input_ids"] = ids
        (hidden,) = self.session.run(None, feed)
        if self.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self.normalize:
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(vectors, dtype=np.float32)


def export_query_encoder(model: SentenceTransformer, model_dir: Path, cache_dir: Path, dimension: int,
                         prompts: dict[str, str]) -> bool:
    """Export ``model`` for queries into ``cache_dir`` (once). False when the model's pipeline is not
    one this module reproduces: a transformer, then mean or CLS pooling, then optionally normalisation."""
    pipeline = _pipeline(model)
    if pipeline is None:
        logger.info("Query embedding stays on PyTorch: the model's pipeline is not transformer → mean/CLS pooling")
        return False
    folder = cache_dir / export_key(model_dir)
    if saved_plan(model_dir, cache_dir) is not None:
        return True
    backend = getattr(model.tokenizer, "backend_tokenizer", None) or getattr(model.tokenizer, "_tokenizer", None)
    if backend is None:
        logger.info("Query embedding stays on PyTorch: the model has no fast (tokenizers) tokenizer")
        return False
    logger.warning("Preparing the query engine for %s (once, up to a minute): exporting it to %s",
                   model_dir.name, folder)
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".export-"))
    try:
        split_special = bool(getattr(model.tokenizer, "split_special_tokens", False))
        kind = save_query_tokenizer(backend, work, split_special)
        auto_model = model[0].auto_model
        table = auto_model.get_input_embeddings().weight.detach().float().numpy()
        np.save(work / ROWS, np.ascontiguousarray(table))
        _export_graph(auto_model, model.tokenizer, work / "model.onnx")
        pooling, normalize = pipeline
        plan = {"format": EXPORT_FORMAT, "pooling": pooling, "normalize": normalize,
                "max_length": int(model.max_seq_length), "dimension": dimension, "prompts": prompts,
                "tokenizer": kind, "split_special_tokens": split_special,
                "pad_id": int(model.tokenizer.pad_token_id or 0),
                "pad_token": str(model.tokenizer.pad_token or "")}
        (work / PLAN).write_text(json.dumps(plan, ensure_ascii=False, indent=2), encoding="utf-8")
        if folder.exists():  # an incomplete earlier attempt, or another process's finished one
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(work, folder)  # atomic: a concurrent process sees no export or the whole of one
        except OSError:
            if saved_plan(model_dir, cache_dir) is None:
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True


def saved_plan(model_dir: Path, cache_dir: Path) -> dict[str, Any] | None:
    """The plan of an earlier export of the model as its files are now (dimension, prompts,
    pooling), or None when there is no such export."""
    folder = cache_dir / export_key(model_dir)
    try:
        plan = json.loads((folder / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if plan.get("format") != EXPORT_FORMAT or not (folder / "model.onnx").exists():
        return None
    return plan


def saved_query_encoder(model_dir: Path, cache_dir: Path, threads: int) -> OnnxQueryEncoder:
    """The query encoder of an earlier export (``saved_plan`` says there is one): onnxruntime,
    tokenizers and numpy only."""
    folder = cache_dir / export_key(model_dir)
    plan = json.loads((folder / PLAN).read_text(encoding="utf-8"))
    tokenizer = load_query_tokenizer(folder, plan["tokenizer"], max_length=plan["max_length"],
                                     pad_id=plan["pad_id"], pad_token=plan["pad_token"],
                                     split_special_tokens=plan["split_special_tokens"])
    rows = np.load(folder / ROWS, mmap_mode="r")
    return OnnxQueryEncoder(_session(folder / "model.onnx", threads), tokenizer, rows,
                            pooling=plan["pooling"], normalize=plan["normalize"])


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # warnings about unused initialisers are not the user's concern
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: on a busy machine (the server answering while an
    # upload is embedded, or other programs) spinning threads take the cores the work needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _export_graph(auto_model: Any, tokenizer: Any, path: Path) -> None:
    """Write ``auto_model`` as ONNX with the word-embedding lookup replaced by an input."""
    import torch

    class _GivenRows(torch.nn.Module):
        """Stands in for the word-embedding table: returns the rows passed to the graph."""

        rows: torch.Tensor | None = None

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            assert self.rows is not None
            return self.rows

    class _LastHidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module, given: _GivenRows) -> None:
            super().__init__()
            self.model, self.given = model, given

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_rows: torch.Tensor) -> torch.Tensor:
            self.given.rows = token_rows
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(["query: 巡视整改", "query: 交叉巡察怎么组织的"], padding=True, return_tensors="pt")
    table = auto_model.get_input_embeddings()
    given = _GivenRows()
    auto_model.set_input_embeddings(given)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow in transformers
            rows = table(sample["input_ids"])
            torch.onnx.export(
                _LastHidden(auto_model, given).eval(),
                (sample["input_ids"], sample["attention_mask"], rows),
                str(path),
                input_names=["input_ids", "attention_mask", "token_rows"],
                output_names=["hidden"],
                dynamic_axes={name: {0: "batch", 1: "tokens"}
                              for name in ("input_ids", "attention_mask", "token_rows", "hidden")},
                opset_version=17,
                dynamo=False,
            )
    finally:
        auto_model.set_input_embeddings(table)


def _pipeline(model: SentenceTransformer) -> tuple[str, bool] | None:
    names = [type(module).__name__ for module in model]
    if len(names) not in (2, 3) or names[0] != "Transformer" or names[1] != "Pooling":
        return None
    if len(names) == 3 and names[2] != "Normalize":
        return None
    config = model[1].get_config_dict()
    pooling = config.get("pooling_mode")
    if pooling not in _POOLING or not config.get("include_prompt", True):
        return None
    if not hasattr(model[0], "auto_model"):
        return None
    return pooling, len(names) == 3


def export_key(model_dir: Path) -> str:
    """A folder name that changes whenever the model's files (or the export's format) do."""
    digest = hashlib.sha256(f"{model_dir.resolve()}:{EXPORT_FORMAT}".encode())
    for entry in sorted(model_dir.iterdir()):
        if entry.is_file():
            stat = entry.stat()
            digest.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_dir.name).strip("-") or "model"
    return f"{slug}-{digest.hexdigest()[:12]}"
