"""Lexical retrieval for Chinese: jieba tokens with a domain dictionary, BM25 (bm25s) over chunks.

Chroma is the one source of truth. This index is derived from it and kept on disk as a cache
(``HOME/lexical/<collection>/``), one folder per store state (revision and chunk count), written
whole and then renamed, so that a reader beside a writer sees one complete state or none; a
search first checks the store's state, and a stale cache is brought up to date before it answers.
A search loads the saved BM25 matrices (memory-mapped) and the chunks' texts, and cuts the query
with jieba's dictionary read from disk (``vectorstore.query_words``), so it never tokenises the
corpus or loads jieba's dictionary. Tokens are kept per chunk id (ids change when content
changes), so an update re-tokenises only new chunks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vectorstore.query_words import query_segmenter, save_frequencies
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
CACHE_FORMAT = 2


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


def _shared(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` with its keys and text values interned: every chunk of a document repeats its
    title, source and section, and a large store holds hundreds of thousands of them."""
    return {sys.intern(k): sys.intern(v) if isinstance(v, str) else v for k, v in metadata.items()}


class ChineseTokenizer:
    """jieba (search mode) with the domain dictionary, plus whole-phrase tokens for harvested terms.

    Args:
        cache_dir: Where jieba keeps its own dictionary cache and where the dictionary is saved
            for queries; None = jieba's default and no saved dictionary.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self.terms: set[str] = set()
        self._full: Any = None
        self._for_queries: Any = None
        self._lock = threading.Lock()

    def _segmenter(self, for_query: bool) -> Any:
        """jieba's tokenizer: for a query, the one that reads the saved dictionary when there is one."""
        with self._lock:
            if self._full is not None:
                return self._full
            if for_query:
                if self._for_queries is None and self.cache_dir is not None and self._words_file().exists():
                    self._for_queries = query_segmenter(self._words_file())
                if self._for_queries is not None:
                    return self._for_queries
            self._full = self._load_full()
            return self._full

    def _load_full(self) -> Any:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        segmenter = jieba.Tokenizer()
        if self.cache_dir is not None:
            (self.cache_dir / "jieba").mkdir(parents=True, exist_ok=True)
            segmenter.tmp_dir = str(self.cache_dir / "jieba")
        for word in domain_words():
            segmenter.add_word(word, freq=TERM_FREQ)
        if self.cache_dir is not None and not self._words_file().exists():
            save_frequencies(segmenter.FREQ, segmenter.total, self._words_file())
        return segmenter

    def _words_file(self) -> Path:
        """The saved dictionary, named after what it is made of (jieba's version and the domain words)."""
        import jieba

        key = hashlib.sha256(f"{jieba.__version__}:{TERM_FREQ}:{chr(10).join(domain_words())}".encode())
        assert self.cache_dir is not None
        return self.cache_dir / f"query-words-{key.hexdigest()[:12]}.sqlite"

    def add_terms(self, terms: Iterable[str]) -> None:
        """Harvested terms: each becomes one extra token wherever it occurs."""
        self.terms.update(terms)

    def words(self, text: str, for_query: bool = False) -> list[str]:
        """jieba's search-mode words of ``text``, without punctuation, stop words and placeholders."""
        out = []
        for token in self._segmenter(for_query).cut_for_search(text.lower()):
            token = token.strip()
            if token and _KEEP.search(token) and token not in STOPWORDS and not _PLACEHOLDER.match(token):
                # One object per distinct word: a large store repeats a few thousand words millions of times.
                out.append(sys.intern(token))
        return out

    def phrase_tokens(self, text: str, terms: Iterable[str] | None = None) -> list[str]:
        """One ``"“term”"`` token for every harvested term that occurs in ``text``."""
        return [sys.intern(f"“{t}”") for t in (self.terms if terms is None else terms) if t in text]

    def tokenize(self, text: str, for_query: bool = False) -> list[str]:
        """All tokens of ``text``."""
        return self.words(text, for_query) + self.phrase_tokens(text)


class LexicalIndex:
    """BM25 over every chunk in a ``ChunkStore``, rebuilt or updated whenever the store changes."""

    def __init__(self, store: ChunkStore, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.tokenizer = ChineseTokenizer(cache_dir)
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
            metas.append(_shared(record["metadata"]))
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

    def _install(self, state, ids, texts, metas, tokens, bm25: Any = None) -> None:
        if bm25 is None and ids:
            import bm25s

            # bm25s sets its own logger to DEBUG when imported; its progress lines are not ours to show.
            logging.getLogger("bm25s").setLevel(logging.WARNING)
            bm25 = bm25s.BM25()
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
    # tokens.json: every chunk's tokens and the harvested terms (read only to update the index);
    # state-<revision>-<count>/: chunks.json (ids, texts, metadata, terms) and bm25/ (the matrices).

    def _tokens_file(self) -> Path:
        return self.cache_dir / "tokens.json"

    def _state_dir(self, state: tuple[str, int]) -> Path:
        revision = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(state[0]))
        return self.cache_dir / f"state-{CACHE_FORMAT}-{revision}-{state[1]}"

    def _load_tokens(self) -> None:
        try:
            data = json.loads(self._tokens_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if data.get("format") == CACHE_FORMAT:
            self._tokens = {cid: [sys.intern(t) for t in chunk] for cid, chunk in zip(data["ids"], data["tokens"])}
            self.tokenizer.add_terms(data["terms"])

    def _load(self, state: tuple[str, int]) -> bool:
        """Use the cache as it is when it was built at exactly this store state."""
        folder = self._state_dir(state)
        try:
            data = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        bm25 = None
        if data["ids"]:
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)
            try:
                bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=True, show_progress=False)
            except (OSError, ValueError) as e:
                log.warning("lexical index: the cache in %s cannot be read (%s); rebuilding it", folder, e)
                return False
        self.tokenizer.add_terms(data["terms"])
        self._install(state, data["ids"], data["texts"], [_shared(m) for m in data["metas"]], {}, bm25)
        self.tokenised = 0
        log.debug("lexical index: reused the cache (%d chunks)", len(self._ids))
        return True

    def _save(self) -> None:
        """Write this state's folder (whole, then renamed into place) and the tokens; drop older states."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        assert self._state is not None
        terms = sorted(self.tokenizer.terms)
        tokens = {"format": CACHE_FORMAT, "terms": terms, "ids": self._ids,
                  "tokens": [self._tokens[cid] for cid in self._ids]}
        with tempfile.NamedTemporaryFile("w", dir=self.cache_dir, delete=False, encoding="utf-8") as f:
            json.dump(tokens, f, ensure_ascii=False)
        os.replace(f.name, self._tokens_file())
        folder = self._state_dir(self._state)
        work = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".state-"))
        try:
            chunks = {"terms": terms, "ids": self._ids, "texts": self._texts, "metas": self._metas}
            (work / "chunks.json").write_text(json.dumps(chunks, ensure_ascii=False), encoding="utf-8")
            if self._bm25 is not None:
                self._bm25.save(str(work / "bm25"), show_progress=False)
            if not folder.exists():
                os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in self.cache_dir.iterdir():
            if old.is_dir() and old.name.startswith("state-") and old != folder:
                shutil.rmtree(old, ignore_errors=True)
        (self.cache_dir / "index.json").unlink(missing_ok=True)  # the single-file cache of format 1

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
        tokens = self.tokenizer.tokenize(query, for_query=True)
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
