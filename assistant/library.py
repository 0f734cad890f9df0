"""Every knowledge base of a deployment, opened once by the page: a store, an indexer and a retriever each.

The page is the home's one writer while it runs (``vectorstore.writelock``), so each knowledge
base is opened for writing when it is first needed and kept open; one created from the page (or
from the command line of a Chroma server's deployment) is opened the first time it is asked for.
Which knowledge bases a request may touch is decided by the caller (``assistant.access``), never here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from assistant import kbs as knowledge_bases
from assistant import services
from assistant.answer import Answerer
from assistant.settings import Settings


@dataclass
class Shelf:
    """One knowledge base opened for the page."""

    kb: str
    store: Any
    indexer: Any
    retriever: Any


class Library:
    """The knowledge bases the page serves, opened lazily and kept.

    Args:
        settings: The deployment's settings.
        embeddings: The embedding model (queries; passages when a file is uploaded).
        client: The Chroma client.
        chat_model: The LLM for answers and drafts, or None (extractive).
        prompts: The prompt texts, loaded and checked once.
    """

    def __init__(self, settings: Settings, embeddings: Any, client: Any, chat_model: Any = None,
                 prompts: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.client = client
        self.chat_model = chat_model
        self.prompts = prompts or {}
        self._shelves: dict[str, Shelf] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every knowledge base, ``default`` first (read fresh: another machine may add one to a server)."""
        return knowledge_bases.knowledge_base_names(self.settings, self.client)

    def listing(self) -> list[Any]:
        """Every knowledge base with its description and chunk count."""
        return knowledge_bases.list_kbs(self.settings, self.client)

    def shelf(self, kb: str) -> Shelf:
        """Knowledge base ``kb`` opened for reading and writing (UsageError if it does not exist)."""
        with self._lock:
            shelf = self._shelves.get(kb)
            if shelf is None:
                store = services.build_store(self.settings, self.client, self.embeddings, kb=kb)
                indexer = services.build_indexer(self.settings, store, self.embeddings, show_progress=False)
                if not store.sentences_ready:  # an index older than sentence vectors: brought up to date once
                    indexer.ensure_sentences()
                retriever = services.build_retriever(self.settings, store, self.embeddings, kb=kb)
                shelf = self._shelves[kb] = Shelf(kb, store, indexer, retriever)
            return shelf

    def retriever(self, kbs: list[str]) -> Any | None:
        """One retriever over those of ``kbs`` that hold anything; None when none does."""
        from vectorstore.multi import combined

        shelves = [self.shelf(kb) for kb in kbs]
        parts = [shelf.retriever for shelf in shelves if shelf.store.count()]
        return combined(parts) if parts else None

    def answerer(self, kbs: list[str]) -> Answerer | None:
        """The answer step over ``kbs``; None when none of them holds anything."""
        retriever = self.retriever(kbs)
        if retriever is None:
            return None
        return Answerer(retriever, self.embeddings, self.settings.relevance_threshold, self.chat_model, self.prompts)

    def documents(self, kbs: list[str]) -> list[tuple[str, Any]]:
        """``(kb, StoredDocument)`` of every document in ``kbs``."""
        return [(kb, d) for kb in kbs for d in self.shelf(kb).store.documents()]

    def create(self, name: str, description: str = "") -> Any:
        """A new, empty knowledge base (UsageError if the name is taken or not valid)."""
        return knowledge_bases.create_kb(self.settings, name, description, self.client)

    def remove(self, name: str) -> int:
        """Delete a knowledge base and everything in it; returns how many chunks it held."""
        with self._lock:
            self._shelves.pop(name, None)
        return knowledge_bases.remove_kb(self.settings, name, self.client)

    def warm(self) -> None:
        """Open every knowledge base and run one search in each, so the first question waits for nothing."""
        for kb in self.names():
            shelf = self.shelf(kb)
            if shelf.store.count():
                shelf.retriever.search("巡视", k=1)
