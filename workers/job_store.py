"""Where jobs live: Redis when configured (shared by API and workers), else SQLite in the data dir."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from core.errors import NotFoundError
from workers.job_model import Job, JobState

_JSON_FIELDS = ("params", "result")
_FIELDS = tuple(Job.model_fields)


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    encoded = {}
    for key, value in fields.items():
        if isinstance(value, JobState):
            value = value.value
        encoded[key] = json.dumps(value)
    return encoded


def _decode(raw: dict[str, str]) -> Job:
    return Job(**{key: json.loads(value) for key, value in raw.items() if key in _FIELDS})


class JobStore(ABC):
    """Create, read and update jobs. A running job whose heartbeat stopped reads back as failed."""

    def create(self, job_type: str, params: dict[str, Any], total: int | None = None,
               runner: str | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex, type=job_type, params=params, total=total, runner=runner)
        self._write(job.id, job.model_dump(mode="json"), new=True)
        return job

    def get(self, job_id: str) -> Job:
        raw = self._read(job_id)
        if raw is None:
            raise NotFoundError(f"Job '{job_id}' does not exist.")
        return self._reap(_decode(raw))

    def update(self, job_id: str, **fields: Any) -> None:
        self._write(job_id, fields)

    def list(self, limit: int = 50) -> list[Job]:
        return [self._reap(_decode(raw)) for raw in self._recent(limit)]

    def _reap(self, job: Job) -> Job:
        if job.is_stale():
            fields = {"state": JobState.failed, "error": "The worker running this job stopped (killed or lost).",
                      "finished_at": time.time()}
            self.update(job.id, **fields)
            job = job.model_copy(update=fields)
        return job

    @abstractmethod
    def _write(self, job_id: str, fields: dict[str, Any], new: bool = False) -> None: ...

    @abstractmethod
    def _read(self, job_id: str) -> dict[str, str] | None: ...

    @abstractmethod
    def _recent(self, limit: int) -> list[dict[str, str]]: ...


class RedisJobStore(JobStore):
    """One hash per job (``siftrag:job:<id>``), a sorted set of ids by creation time."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)

    def _write(self, job_id: str, fields: dict[str, Any], new: bool = False) -> None:
        key = f"siftrag:job:{job_id}"
        if not new and not self.redis.exists(key):
            raise NotFoundError(f"Job '{job_id}' does not exist.")
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=_encode(fields))
        if new:
            pipe.zadd("siftrag:jobs", {job_id: fields["created_at"]})
        pipe.execute()

    def _read(self, job_id: str) -> dict[str, str] | None:
        return self.redis.hgetall(f"siftrag:job:{job_id}") or None

    def _recent(self, limit: int) -> list[dict[str, str]]:
        ids = self.redis.zrevrange("siftrag:jobs", 0, limit - 1)
        pipe = self.redis.pipeline()
        for job_id in ids:
            pipe.hgetall(f"siftrag:job:{job_id}")
        return [raw for raw in pipe.execute() if raw]


class SqliteJobStore(JobStore):
    """Jobs of the embedded default, in ``<data_dir>/jobs.sqlite`` (readable by the CLI too)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at REAL, data TEXT)")

    def _write(self, job_id: str, fields: dict[str, Any], new: bool = False) -> None:
        with self._lock:
            if new:
                self._db.execute("INSERT INTO jobs VALUES (?, ?, ?)",
                                 (job_id, fields["created_at"], json.dumps(_encode(fields))))
                return
            row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"Job '{job_id}' does not exist.")
            data = {**json.loads(row[0]), **_encode(fields)}
            self._db.execute("UPDATE jobs SET data = ? WHERE id = ?", (json.dumps(data), job_id))

    def _read(self, job_id: str) -> dict[str, str] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _recent(self, limit: int) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [json.loads(row[0]) for row in rows]


def advance(store: JobStore, job_id: str, count: int) -> None:
    """Add ``count`` to a job's ``done`` (atomic in Redis, where chunks of one job run in parallel)."""
    if isinstance(store, RedisJobStore):
        store.redis.hincrby(f"siftrag:job:{job_id}", "done", count)
    else:
        store.update(job_id, done=store.get(job_id).done + count)
