"""The process-wide job store chosen by settings."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.settings import get_settings
from workers.job_store import JobStore, RedisJobStore, SqliteJobStore


@lru_cache(maxsize=1)
def job_store() -> JobStore:
    settings = get_settings()
    if settings.redis_url:
        return RedisJobStore(settings.redis_url)
    return SqliteJobStore(Path(settings.data_dir) / "jobs.sqlite")
