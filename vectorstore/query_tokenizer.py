"""Query tokenizers that start in milliseconds, built with the ``tokenizers`` library alone.

Building the full Unigram model of multilingual-e5-small's tokenizer (250k pieces) takes ~0.4 s
of a cold command's 1.5 s and holds the GIL. A query is a few dozen characters, and the Viterbi
search of a Unigram model only ever looks at pieces that occur in the text. So ``PieceTokenizer``
keeps the pieces in a plain dict (loaded in ~0.05 s), finds the ones occurring in the batch, and
runs a Unigram model made of just those (plus the special pieces, at their own ids), mapping its
ids back. Same normalizer, pre-tokenizer, post-processor and scores, so the same ids: tests
compare it with the full tokenizer token for token. Tokenizers of other kinds (WordPiece, BPE)
load whole from ``tokenizer.json``; they are small.
"""

from __future__ import annotations

import json
import marshal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PIECES_FILE = "pieces.marshal"
BASE_FILE = "tokenizer-base.json"
FULL_FILE = "tokenizer.json"


class QueryTokenizer:
    """Texts to padded ``input_ids`` and ``attention_mask`` arrays, like the model's own tokenizer."""

    def __init__(self, tokenizer: Any, max_length: int, pad_id: int, pad_token: str,
                 split_special_tokens: bool = False) -> None:
        # Like transformers' ``split_special_tokens``: "<s>" in the text is text, not a control token.
        tokenizer.encode_special_tokens = split_special_tokens
        tokenizer.enable_truncation(max_length)
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._tokenizer = tokenizer

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self._tokenizer.encode_batch(list(texts))
        return _arrays(encodings)


class PieceTokenizer:
    """A Unigram tokenizer whose model holds, for each batch, only the pieces occurring in it.

    Args:
        base: The tokenizer with its vocabulary cut to the ``specials`` leading pieces (its
            normalizer, pre-tokenizer and post-processor are used as they are).
        pieces: Every piece, in id order.
        scores: Each piece's log probability.
        specials: How many leading pieces keep their ids (``<s>``, ``<pad>``, ``</s>``, ``<unk>``).
        unk_id: Id of ``<unk>`` (below ``specials``).
    """

    def __init__(self, base: Any, pieces: list[str], scores: list[float], *, specials: int, unk_id: int,
                 max_length: int, pad_id: int, pad_token: str) -> None:
        if not unk_id < specials or not pad_id < specials:
            raise ValueError("unk and pad must be among the leading special pieces")
        self._base = base
        self._pieces, self._scores = pieces, scores
        self._ids = {piece: i for i, piece in enumerate(pieces)}
        self._longest = max(map(len, pieces))
        self._specials, self._unk_id = specials, unk_id
        self._max_length, self._pad_id, self._pad_token = max_length, pad_id, pad_token
        self._lock = threading.Lock()  # the base's components are shared; tokenizers are cheap to build

    def _occurring(self, texts: Sequence[str]) -> list[int]:
        """Ids of the pieces that occur in the normalized, pre-tokenized ``texts``."""
        found: set[int] = set()
        longest, ids = self._longest, self._ids
        for text in texts:
            for word, _ in self._base.pre_tokenizer.pre_tokenize_str(self._base.normalizer.normalize_str(text)):
                n = len(word)
                for start in range(n):
                    for end in range(start + 1, min(n, start + longest) + 1):
                        piece_id = ids.get(word[start:end])
                        if piece_id is not None and piece_id >= self._specials:
                            found.add(piece_id)
        return list(range(self._specials)) + sorted(found)

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        from tokenizers import Tokenizer, models

        texts = list(texts)
        with self._lock:
            kept = self._occurring(texts)
            model = models.Unigram([(self._pieces[i], self._scores[i]) for i in kept], unk_id=self._unk_id,
                                   byte_fallback=False)
            tokenizer = Tokenizer(model)
            tokenizer.normalizer = self._base.normalizer
            tokenizer.pre_tokenizer = self._base.pre_tokenizer
            tokenizer.post_processor = self._base.post_processor
        tokenizer.enable_truncation(self._max_length)
        tokenizer.enable_padding(pad_id=self._pad_id, pad_token=self._pad_token)
        ids, mask = _arrays(tokenizer.encode_batch(texts))
        return np.asarray(kept, dtype=np.int64)[ids], mask


def save_query_tokenizer(backend: Any, folder: Path, split_special_tokens: bool) -> str:
    """Write the files ``load_query_tokenizer`` reads, from a ``tokenizers.Tokenizer`` (the model's
    fast tokenizer's backend). Returns the kind written: ``pieces`` or ``full``."""
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    # The pieces tokenizer leaves the added tokens out: it is only used where the model's tokenizer
    # reads special tokens in the text as plain text (split_special_tokens); the post-processor
    # inserts <s> and </s> by id.
    unigram = model.get("type") == "Unigram" and not model.get("byte_fallback") and model.get("unk_id") is not None
    if split_special_tokens and unigram:
        vocab = model["vocab"]
        specials = _leading_specials(vocab, spec.get("added_tokens") or [])
        if model["unk_id"] < specials:
            pieces = [piece for piece, _ in vocab]
            scores = [float(score) for _, score in vocab]
            (folder / PIECES_FILE).write_bytes(marshal.dumps((pieces, scores, specials)))
            base = {**spec, "added_tokens": [], "model": {**model, "vocab": vocab[:specials]},
                    "truncation": None, "padding": None}
            (folder / BASE_FILE).write_text(json.dumps(base, ensure_ascii=False), encoding="utf-8")
            return "pieces"
    full = {**spec, "truncation": None, "padding": None}
    (folder / FULL_FILE).write_text(json.dumps(full, ensure_ascii=False), encoding="utf-8")
    return "full"


def load_query_tokenizer(folder: Path, kind: str, *, max_length: int, pad_id: int, pad_token: str,
                         split_special_tokens: bool = False) -> QueryTokenizer | PieceTokenizer:
    """The tokenizer ``save_query_tokenizer`` wrote into ``folder``."""
    from tokenizers import Tokenizer

    if kind == "pieces":
        pieces, scores, specials = marshal.loads((folder / PIECES_FILE).read_bytes())
        base = Tokenizer.from_file(str(folder / BASE_FILE))
        unk_id = json.loads((folder / BASE_FILE).read_text(encoding="utf-8"))["model"]["unk_id"]
        return PieceTokenizer(base, pieces, scores, specials=specials, unk_id=unk_id, max_length=max_length,
                              pad_id=pad_id, pad_token=pad_token)
    return QueryTokenizer(Tokenizer.from_file(str(folder / FULL_FILE)), max_length, pad_id, pad_token,
                          split_special_tokens)


def _leading_specials(vocab: list[list[Any]], added: list[dict[str, Any]]) -> int:
    """How many leading pieces are special tokens (XLM-R: <s>, <pad>, </s>, <unk>)."""
    special_ids = {token["id"] for token in added if token.get("special")}
    count = 0
    while count < len(vocab) and count in special_ids:
        count += 1
    return count


def _arrays(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask
