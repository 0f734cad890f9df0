"""Knowledge bases: separate collections of documents in one store, each searched and granted on its own.

A knowledge base is a chunk collection (with its sentence collection beside it) whose metadata
names it. ``default`` is the deployment's original collection (``XUNSHI_COLLECTION``), so every
home and Chroma server made before knowledge bases existed is the ``default`` knowledge base as
it is. Any other knowledge base lives in ``<collection>-kb-<hash of its name>``: a name may be
Chinese (``2024年第一轮巡视``) while Chroma's names may not, and the hash needs no registry that
could drift from the collections. Listing reads the collections' metadata, so the embedded store
and a Chroma server behave alike.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from chromadb.errors import NotFoundError

from ingest.errors import UsageError
from vectorstore.sentences import sentence_collection_name
from vectorstore.store import now

DEFAULT_KB = "default"
# Collection metadata of a knowledge base: its name, description and creation time.
KB_NAME = "xunshi_kb"
KB_DESCRIPTION = "xunshi_kb_description"
KB_CREATED = "xunshi_kb_created"
KB_KEYS = (KB_NAME, KB_DESCRIPTION, KB_CREATED)
MAX_NAME = 64
_BAD_NAME = re.compile(r"[/\\\s,]")


@dataclass
class KnowledgeBase:
    """A knowledge base as listed: its name, collection, description, creation time and chunk count."""

    name: str
    collection: str
    description: str = ""
    created: str = ""
    chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The fields shown by ``kb list --json``."""
        return {"name": self.name, "description": self.description, "created": self.created,
                "chunks": self.chunks, "collection": self.collection}


def check_name(name: str) -> str:
    """A knowledge base's name, checked: 1–64 characters, no spaces, commas, slashes or control characters.

    Raises:
        UsageError: the name cannot be used, with the reason.
    """
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise UsageError("a knowledge base needs a name, e.g. `xunshi kb create 2024第一轮巡视`")
    if len(name) > MAX_NAME:
        raise UsageError(f"the knowledge base name '{name[:20]}…' is longer than {MAX_NAME} characters")
    if _BAD_NAME.search(name) or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise UsageError(f"the knowledge base name '{name}' may not hold spaces, commas, slashes or control "
                         "characters (e.g. 2024第一轮巡视, 法规制度)")
    return name


def collection_name(base: str, kb: str) -> str:
    """The chunk collection of knowledge base ``kb`` (``base`` is the configured collection)."""
    if kb == DEFAULT_KB:
        return base
    return f"{base}-kb-{hashlib.sha256(kb.encode('utf-8')).hexdigest()[:16]}"


def _metadata(client: Any, name: str) -> dict[str, Any] | None:
    try:
        return client.get_collection(name, embedding_function=None).metadata or {}
    except (NotFoundError, ValueError):
        return None


def list_knowledge_bases(client: Any, base: str, counts: bool = True) -> list[KnowledgeBase]:
    """Every knowledge base, ``default`` first (listed even before anything was ingested), then by name."""
    found: list[KnowledgeBase] = []
    default = KnowledgeBase(DEFAULT_KB, base, "")
    prefix = f"{base}-kb-"
    for collection in client.list_collections():
        name = collection if isinstance(collection, str) else collection.name
        if name == base:
            meta = _collection(client, name).metadata or {}
            default.description = str(meta.get(KB_DESCRIPTION, ""))
            default.created = str(meta.get(KB_CREATED, ""))
            default.chunks = _collection(client, name).count() if counts else 0
            continue
        if not name.startswith(prefix) or name.endswith(sentence_collection_name("")):
            continue
        kept = _collection(client, name)
        meta = kept.metadata or {}
        kb = meta.get(KB_NAME)
        if not kb or collection_name(base, str(kb)) != name:  # a staging copy of a reindex, or foreign
            continue
        found.append(KnowledgeBase(str(kb), name, str(meta.get(KB_DESCRIPTION, "")), str(meta.get(KB_CREATED, "")),
                                   kept.count() if counts else 0))
    return [default, *sorted(found, key=lambda kb: kb.name)]


def _collection(client: Any, name: str) -> Any:
    return client.get_collection(name, embedding_function=None)


def knowledge_base_exists(client: Any, base: str, kb: str) -> bool:
    """Whether ``kb`` exists (``default`` always does)."""
    if kb == DEFAULT_KB:
        return True
    meta = _metadata(client, collection_name(base, kb))
    return meta is not None and meta.get(KB_NAME) == kb


def create_knowledge_base(client: Any, base: str, name: str, description: str = "") -> KnowledgeBase:
    """Create an empty knowledge base (the first ingest into it claims it for the embedding model).

    Raises:
        UsageError: the name is not valid, or a knowledge base of that name exists.
    """
    name = check_name(name)
    if knowledge_base_exists(client, base, name):
        raise UsageError(f"the knowledge base '{name}' exists already (see `xunshi kb list`)")
    collection = collection_name(base, name)
    created = now()
    client.get_or_create_collection(
        collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None,
        metadata={KB_NAME: name, KB_DESCRIPTION: description, KB_CREATED: created})
    return KnowledgeBase(name, collection, description, created, 0)


def removable_chunks(client: Any, base: str, name: str) -> int:
    """How many chunks removing knowledge base ``name`` would delete.

    Raises:
        UsageError: ``default`` (it is the deployment's own; remove its documents instead) or an
            unknown knowledge base.
    """
    if name == DEFAULT_KB:
        raise UsageError("the default knowledge base cannot be removed: remove its documents with "
                         "`xunshi docs remove DOC_ID`")
    if not knowledge_base_exists(client, base, name):
        raise UsageError(unknown_message(client, base, name))
    return _collection(client, collection_name(base, name)).count()


def remove_knowledge_base(client: Any, base: str, name: str) -> int:
    """Delete a knowledge base, its chunks and their sentences; returns how many chunks it held.

    Raises:
        UsageError: as ``removable_chunks``.
    """
    chunks = removable_chunks(client, base, name)
    collection = collection_name(base, name)
    for target in (sentence_collection_name(collection), collection):
        try:
            client.delete_collection(target)
        except (NotFoundError, ValueError):
            pass  # the sentence collection of a knowledge base never written to
    return chunks


def unknown_message(client: Any, base: str, name: str) -> str:
    """What to say of a knowledge base that does not exist: the ones that do, and how to create it."""
    names = ", ".join(kb.name for kb in list_knowledge_bases(client, base, counts=False))
    return (f"no knowledge base named '{name}' (there are: {names}); create it with "
            f"`xunshi kb create {name}`")


def carry_over(old_metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The knowledge base's own metadata keys, to keep when its collection is rebuilt (reindex)."""
    return {k: v for k, v in (old_metadata or {}).items() if k in KB_KEYS}
