"""One settings object, read from ``SIFTRAG_*`` environment variables and an optional ``.env`` file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Absent ``redis_url`` means the embedded (in-process) job runner."""

    model_config = SettingsConfigDict(env_prefix="SIFTRAG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("siftrag-data"), description="collections, caches, converted models")
    redis_url: str | None = Field(default=None, description="Celery broker/backend and job store")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    embedding_model: str = "all-minilm-l6-v2"
    llm_model: str = "smollm2-135m-instruct"
    tilde_model: str = Field(default="tilde-scifact", description="trained TILDEv2 scorer: name or folder")
    embedding_batch_size: int = 64
    api_keys: list[str] = Field(default_factory=list, description="keys accepted by admin routes")
    protect_queries: bool = False
    max_query_chars: int = 2048
    max_top_k: int = 1000
    max_batch_queries: int = 256
    max_rerank_documents: int = 200
    max_ingest_documents: int = 10000
    max_document_chars: int = 200_000
    job_timeout_s: int = 3600


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing the env)."""
    return Settings()
