"""Lexical retrieval for Chinese: jieba tokens with a domain dictionary, BM25 (bm25s) over chunks.

Chroma is the one source of truth. This index is derived from it and kept on disk as a cache
(``HOME/lexical/<collection>/``), tagged with the store's revision and chunk count; a search
first checks that tag, and a stale cache is brought up to date before it answers. Tokens are kept
per chunk id (ids change when content changes), so an update re-tokenises only new chunks.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vectorstore.store import ChunkStore, Hit

log = logging.getLogger(__name__)

# Named practices (“推磨式”) and document titles (《…》): harvested as terms, listed by `xunshi terms`.
QUOTED_TERM = re.compile(r"“([^“”\n]{2,12})”")
DOCUMENT_TITLE = re.compile(r"《([^《》\n]{2,40})》")
_KEEP = re.compile(r"[\w\u4e00-\u9fff]")
_PLACEHOLDER = re.compile(r"^[xX×]+$|^\d{1,2}$")
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 等 对 把 将 为 以 并 也 都 而 或 之 其 中 个 有 被 从 向 于 这 那 "
    "哪些 什么 怎么 怎样 如何 吗 呢 啊 吧 哪 是否 一些 有没有 进行 开展 方面 工作".split()
)
TERM_FREQ = 200_000
CACHE_FORMAT = 1


def domain_words() -> list[str]:
    """The words that must stay whole (DOMAIN.md), shipped with the package."""
    text = resources.files("vectorstore").joinpath("domain_words.txt").read_text(encoding="utf-8")
    return [w.strip() for w in text.splitlines() if w.strip()]


def harvest_terms(texts: Iterable[str]) -> set[str]:
    """Named practices in quotes (“推磨式”) and document titles (《…》) found in ``texts``."""
    terms: set[str] = set()
    for text in texts:
        terms.update(m.strip() for m in QUOTED_TERM.findall(text))
        terms.update(m.strip() for m in DOCUMENT_TITLE.findall(text))
    return {t for t in terms if len(t) >= 2}


class ChineseTokenizer:
    """jieba (search mode) with the domain dictionary, plus whole-phrase tokens for harvested terms."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._jieba.tmp_dir = str(cache_dir)
        for word in domain_words():
            self._jieba.add_word(word, freq=TERM_FREQ)
        self.terms: set[str] = set()

    def add_terms(self, terms: Iterable[str]) -> None:
        """Harvested terms: each becomes one extra token wherever it occurs."""
        self.terms.update(terms)

    def words(self, text: str) -> list[str]:
        """jieba's search-mode words of ``text``, without punctuation, stop words and placeholders."""
        out = []
        for token in self._jieba.cut_for_search(text.lower()):
            token = token.strip()
            if token and _KEEP.search(token) and token not in STOPWORDS and not _PLACEHOLDER.match(token):
                out.append(token)
        return out

    def phrase_tokens(self, text: str, terms: Iterable[str] | None = None) -> list[str]:
        """One ``"“term”"`` token for every harvested term that occurs in ``text``."""
        return [f"“{t}”" for t in (self.terms if terms is None else terms) if t in text]

    def tokenize(self, text: str) -> list[str]:
        """All tokens of ``text``."""
        return self.words(text) + self.phrase_tokens(text)


class LexicalIndex:
    """BM25 over every chunk in a ``ChunkStore``, rebuilt or updated whenever the store changes."""

    def __init__(self, store: ChunkStore, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.tokenizer = ChineseTokenizer(cache_dir / "jieba")
        self._lock = threading.Lock()
        self._state: tuple[str, int] | None = None
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._metas: list[dict[str, Any]] = []
        self._tokens: dict[str, list[str]] = {}
        self._position: dict[str, int] = {}
        self._bm25: Any = None
        self._columns: dict[str, np.ndarray] = {}
        # How many chunks the last refresh had to tokenise (0 when the disk cache was reused).
        self.tokenised = 0

    # --- freshness -----------------------------------------------------------------------------

    def ensure_current(self) -> None:
        """Make the index match the store exactly: reuse memory, else the disk cache, else rebuild."""
        state = self.store.state()
        if state == self._state:
            return
        with self._lock:
            state = self.store.state()
            if state == self._state:
                return
            if self._state is None and self._load(state):
                return
            self._refresh(state)

    def _refresh(self, state: tuple[str, int]) -> None:
        """Read every chunk from the store, re-tokenise only the new ones, rebuild BM25, save."""
        if not self._tokens:
            self._load_tokens()
        ids, texts, metas = [], [], []
        for record in self.store.iter_records():
            ids.append(record["id"])
            texts.append(record["text"])
            metas.append(record["metadata"])
        terms = harvest_terms(texts)
        new_terms = terms - self.tokenizer.terms
        self.tokenizer.add_terms(new_terms)
        tokens: dict[str, list[str]] = {}
        fresh = 0
        for cid, text in zip(ids, texts):
            known = self._tokens.get(cid)
            if known is None:
                tokens[cid] = self.tokenizer.tokenize(text)
                fresh += 1
            else:
                tokens[cid] = known + self.tokenizer.phrase_tokens(text, new_terms)
        self._install(state, ids, texts, metas, tokens)
        self.tokenised = fresh
        self._save()
        log.info("lexical index: %d chunks (%d newly tokenised), %d harvested terms", len(ids), fresh, len(terms))

    def _install(self, state, ids, texts, metas, tokens) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG when imported; its progress lines are not ours to show.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25()
        if ids:
            bm25.index([tokens[cid] or ["∅"] for cid in ids], show_progress=False)
        self._bm25 = bm25 if ids else None
        self._ids, self._texts, self._metas, self._tokens = ids, texts, metas, tokens
        self._position = {cid: i for i, cid in enumerate(ids)}
        self._columns = {
            "doc_id": np.array([m["doc_id"] for m in metas], dtype=object),
            "year": np.array([m.get("year", 0) for m in metas], dtype=np.int32),
            "level": np.array([m.get("level", "") for m in metas], dtype=object),
        }
        self._state = state

    # --- the disk cache --------------------------------------------------------------------------

    def _cache_file(self) -> Path:
        return self.cache_dir / "index.json"

    def _load_tokens(self) -> None:
        try:
            data = json.loads(self._cache_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if data.get("format") == CACHE_FORMAT:
            self._tokens = dict(zip(data["ids"], data["tokens"]))
            self.tokenizer.add_terms(data["terms"])

    def _load(self, state: tuple[str, int]) -> bool:
        """Use the cache as it is when it was built at exactly this store state."""
        try:
            data = json.loads(self._cache_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if data.get("format") != CACHE_FORMAT or tuple(data.get("state", ())) != state:
            return False
        self.tokenizer.add_terms(data["terms"])
        tokens = dict(zip(data["ids"], data["tokens"]))
        self._install(state, data["ids"], data["texts"], data["metas"], tokens)
        self.tokenised = 0
        log.debug("lexical index: reused the cache (%d chunks)", len(self._ids))
        return True

    def _save(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CACHE_FORMAT,
            "state": list(self._state or ()),
            "terms": sorted(self.tokenizer.terms),
            "ids": self._ids,
            "tokens": [self._tokens[cid] for cid in self._ids],
            "texts": self._texts,
            "metas": self._metas,
        }
        with tempfile.NamedTemporaryFile("w", dir=self.cache_dir, delete=False, encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False)
        shutil.move(f.name, self._cache_file())

    # --- search ----------------------------------------------------------------------------------

    def _mask(self, filters: Any) -> np.ndarray | None:
        if filters is None:
            return None
        mask = np.ones(len(self._ids), dtype=bool)
        if filters.doc_ids:
            mask &= np.isin(self._columns["doc_id"], list(filters.doc_ids))
        if filters.year is not None:
            mask &= self._columns["year"] == filters.year
        if filters.level:
            mask &= self._columns["level"] == filters.level
        if filters.year_from is not None or filters.year_to is not None:
            mask &= self._columns["year"] >= max(filters.year_from or 1, 1)
        if getattr(filters, "year_to", None) is not None:
            mask &= self._columns["year"] <= filters.year_to
        return None if mask.all() else mask.astype(np.float32)

    def hits(self, ids: Iterable[str]) -> dict[str, Hit]:
        """The chunks of ``ids`` that this index holds (text and metadata from memory), score 0."""
        return {cid: Hit(cid, self._texts[i], self._metas[i], 0.0)
                for cid in ids if (i := self._position.get(cid)) is not None}

    def search(self, query: str, k: int, filters: Any = None) -> list[Hit]:
        """The ``k`` best chunks by BM25 that pass ``filters``, best first (score > 0 only)."""
        self.ensure_current()
        if self._bm25 is None or k <= 0:
            return []
        tokens = self.tokenizer.tokenize(query)
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        mask = self._mask(filters)
        if mask is not None:
            scores = scores * mask
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            Hit(self._ids[i], self._texts[i], self._metas[i], float(scores[i]))
            for i in top
            if scores[i] > 0
        ]
