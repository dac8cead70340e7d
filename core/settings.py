"""One settings object, read from ``SIFTRAG_*`` environment variables and an optional ``.env`` file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.api_keys import ApiKey, parse_api_keys

LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]"]


class Settings(BaseSettings):
    """Runtime configuration. Absent ``redis_url`` means the embedded (in-process) job runner."""

    model_config = SettingsConfigDict(env_prefix="SIFTRAG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("siftrag-data"), description="collections, caches, converted models")
    redis_url: str | None = Field(default=None, description="Celery broker/backend and job store")
    index_backend: Literal["local", "milvus"] = Field(default="local", description="where index versions live: "
                                                      "files in data_dir (local) or collections behind Milvus "
                                                      "aliases (milvus)")
    milvus_uri: str | None = Field(default=None, description="a Milvus Lite file (*.db, one process) or "
                                   "http://host:19530 (a server shared by hosts); unset: <data_dir>/milvus.db")
    database_url: str | None = Field(default=None, description="postgresql://… : documents in PostgreSQL, shared "
                                     "by every host (unset: one SQLite file per collection in data_dir)")
    milvus_token: str | None = Field(default=None, description="Milvus credentials (user:password or API key)")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    embedding_model: str = "all-minilm-l6-v2"
    llm_model: str = "smollm2-135m-instruct"
    reader: str = Field(default="reader-general", description="the shipped reader adapter (models/readers/NAME) "
                        "that answers when a request names no model: for the answer format it was trained on, when "
                        "its base is llm_model; empty: the base LLM answers")
    llm_cache_mb: int = Field(default=4096, ge=1, description="memory for loaded LLMs per process (transformers' "
                              "weights; under llama.cpp also its Q8_0 weights, their AMX copy and two KV caches); the "
                              "least recently used leave beyond it (the newest always stays). The default holds the "
                              "default LLM and its two shipped adapters (about 540 + 480 MB each)")
    llm_engine: Literal["auto", "transformers", "llama.cpp"] = Field(
        default="auto", description="what generates text: llama.cpp for GGUF models (and adapters trained on them) "
        "on the CPU when llama-cpp-python is installed (auto), or always transformers; scoring, attention and "
        "hidden states always run on transformers")
    llm_amx_decoding: bool = Field(default=True, description="on CPUs with AMX, llama.cpp decodes one token at a "
                                   "time on AMX weight buffers (about 2x faster; prompts are read without them, "
                                   "whose batched kernels crash); false: one copy of the model does both")
    tilde_model: str = Field(default="tilde-scifact", description="trained TILDEv2 scorer: name or folder")
    embedding_batch_size: int = 64
    batch_wait_ms: float = Field(default=0.0, ge=0, le=1000, description="how long a query waits for concurrent "
                                 "ones to share its model call (dynamic batching); at 0, the queries that queue "
                                 "while the model runs still share its next call (measured best on the CPU)")
    batch_max_items: int = Field(default=64, ge=1, le=4096, description="most queries in one batched model call; "
                                 "1 turns dynamic batching off")
    llm_batch_tokens: int | None = Field(default=None, ge=0, le=1_000_000, description="padded tokens per forward "
                                         "pass when concurrent requests' LLM scoring prompts (FIRST, pointwise, "
                                         "full-ranking logits) share passes; 0 turns this batching off; unset: 8192 "
                                         "on CUDA, off on the CPU (padded CPU passes measured slower)")
    api_keys: list[ApiKey] = Field(default_factory=list, description="JSON list: plain strings are admin keys, "
                                   "objects {key, role: read|write|admin, collections: [patterns]} are scoped")
    protect_queries: bool = Field(default=False, description="query routes need a key too (otherwise open)")
    public_metrics: bool = Field(default=False, description="/metrics and /readyz details without a key")
    allowed_hosts: list[str] = Field(default_factory=lambda: list(LOOPBACK_HOSTS),
                                     description="Host header names served (DNS rebinding guard); ['*'] = any")
    allowed_origins: list[str] = Field(default_factory=list, description="browser origins (scheme://host[:port]) "
                                       "allowed to call state-changing routes besides the server's own")
    allowed_models: list[str] = Field(default_factory=list, description="model names, hub ids or paths that "
                                      "requests may name besides the registry and trained adapters")
    max_search_results: int = Field(default=25_000, description="queries × top_k of one search request")
    max_body_bytes: int | None = Field(default=None, ge=1, description="request body limit (bytes), checked while "
                                       "read; unset: what the limits below allow (api/body_limit.py: 13 MB)")
    max_ingest_body_bytes: int = Field(default=64 * 2**20, ge=1, description="body limit (bytes) of a document "
                                       "upload (POST /v1/collections/{name}/documents); more: several uploads")
    max_file_bytes: int = Field(default=50 * 2**20, ge=1, description="bytes of one uploaded file (PDF, DOCX, HTML, "
                                "Markdown, text); a larger one gets a per-file error")
    max_files_body_bytes: int = Field(default=256 * 2**20, ge=1, description="body limit (bytes) of a file upload "
                                      "(POST /v1/collections/{name}/files, multipart, several files)")
    max_upload_files: int = Field(default=1000, ge=1, description="files in one upload request")
    max_source_chars: int = Field(default=5_000_000, ge=1, description="characters of text one file may convert to "
                                  "(caps HTML or DOCX that expands absurdly)")
    chunk_words: int = Field(default=100, ge=10, le=10_000, description="words per chunk of an uploaded file "
                             "(chosen from measurements of 50-300 words, docs/documents.md)")
    chunk_overlap_words: int = Field(default=20, ge=0, le=5_000, description="words shared by consecutive chunks")
    max_query_chars: int = 2048
    max_top_k: int = 1000
    max_batch_queries: int = 256
    max_rerank_documents: int = 200
    max_ingest_documents: int = 10000
    max_document_chars: int = 200_000
    max_rerank_chars: int = Field(default=2_000_000, description="characters of all documents of one "
                                  "/v2/rerank or /rerank request, checked before they are tokenized")
    max_rerank_texts: int = Field(default=1000, ge=1, description="documents of one /v2/rerank, /rerank or "
                                  "Cohere/Jina-shaped /v1/rerank request (Cohere's documented maximum)")
    max_rerank_tokens: int = Field(default=400_000, ge=1, description="tokens of all chunks one /v2/rerank, /rerank "
                                   "or Cohere/Jina-shaped /v1/rerank request scores (documents are cut to "
                                   "max_tokens_per_doc first)")
    model_aliases: dict[str, str] = Field(default_factory=dict, description="JSON object: model names other "
                                          "clients send → what they stand for here, e.g. {\"rerank-v3.5\": "
                                          "\"embedding\", \"gpt-4o-mini\": \"rag:docs\"}; the target is checked "
                                          "as if the client had sent it")
    job_timeout_s: int = 3600

    @field_validator("api_keys", mode="before")
    @classmethod
    def keys_from_strings_or_objects(cls, value: object) -> list[ApiKey]:
        return parse_api_keys(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing the env)."""
    return Settings()
