"""Knowledge bases as the commands and the page use them: list, create, remove, and open for reading."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from typing import Any

from assistant import services
from assistant.settings import Settings
from ingest.errors import EmptyStoreError

log = logging.getLogger(__name__)


def list_kbs(settings: Settings, client: Any | None = None, counts: bool = True) -> list[Any]:
    """Every knowledge base (``default`` first), with its chunk count."""
    from vectorstore.knowledge_bases import list_knowledge_bases

    return list_knowledge_bases(client or services.build_chroma_client(settings), settings.collection, counts)


def knowledge_base_names(settings: Settings, client: Any | None = None) -> list[str]:
    """The names of every knowledge base, ``default`` first."""
    return [kb.name for kb in list_kbs(settings, client, counts=False)]


def create_kb(settings: Settings, name: str, description: str = "", client: Any | None = None) -> Any:
    """Create an empty knowledge base (UsageError if the name is taken or not valid)."""
    from vectorstore.knowledge_bases import create_knowledge_base

    return create_knowledge_base(client or services.build_chroma_client(settings), settings.collection, name,
                                 description)


def removable_chunks(settings: Settings, name: str, client: Any | None = None) -> int:
    """How many chunks removing ``name`` would delete (UsageError for ``default`` or an unknown name)."""
    from vectorstore.knowledge_bases import removable_chunks as count

    return count(client or services.build_chroma_client(settings), settings.collection, name)


def remove_kb(settings: Settings, name: str, client: Any | None = None) -> int:
    """Delete a knowledge base, its chunks, sentences and lexical cache; returns how many chunks it held."""
    from vectorstore.knowledge_bases import collection_name, remove_knowledge_base

    chunks = remove_knowledge_base(client or services.build_chroma_client(settings), settings.collection, name)
    cache = services.build_lexical_path(settings, collection_name(settings.collection, name))
    shutil.rmtree(cache, ignore_errors=True)
    from assistant.users import UserStore

    dropped = UserStore(settings.users_path).drop_kb(name)  # a later knowledge base of that name starts ungranted
    if dropped:
        log.info("rights on %s dropped for %s", name, ", ".join(dropped))
    return chunks


def open_retriever(settings: Settings, kbs: Sequence[str], embeddings: Any, client: Any | None = None) -> Any:
    """One retriever over the knowledge bases ``kbs`` (those holding anything), opened for reading.

    Raises:
        UsageError: a knowledge base does not exist.
        EmptyStoreError: none of them holds anything yet.
    """
    from vectorstore.multi import combined

    client = client or services.build_chroma_client(settings)
    parts = []
    for kb in kbs:
        try:
            store = services.build_store(settings, client, embeddings, read_only=True, kb=kb)
        except EmptyStoreError:
            continue  # the default knowledge base, never written to
        if store.count():
            parts.append(services.build_retriever(settings, store, embeddings, kb=kb))
    if not parts:
        if list(kbs) == ["default"]:
            raise EmptyStoreError("nothing has been ingested yet: run `xunshi ingest PATH` first (see `xunshi docs list`)")
        raise EmptyStoreError(f"nothing has been ingested into {', '.join(kbs)} yet: run "
                              f"`xunshi ingest PATH --kb {kbs[0]}` first (see `xunshi kb list`)")
    return combined(parts)


def open_stores(settings: Settings, kbs: Sequence[str], client: Any | None = None) -> list[tuple[str, Any]]:
    """``(kb, store)`` for listing (no model loaded), skipping a default knowledge base never written to."""
    client = client or services.build_chroma_client(settings)
    out = []
    for kb in kbs:
        try:
            out.append((kb, services.build_store(settings, client, None, read_only=True, kb=kb)))
        except EmptyStoreError:
            continue
    return out
