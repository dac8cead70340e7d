"""Where jobs live: Redis when configured (shared by API and workers), else SQLite in the data dir.

Every write is atomic against concurrent writers (other threads, processes and hosts): a read-modify-write runs
under Redis WATCH/MULTI or in one SQLite ``BEGIN IMMEDIATE`` transaction, so no update is lost, and a state change
is conditional on the state it was decided from (``transition``): a finished job's state never changes."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import NotFoundError
from workers.job_model import Job, JobState

_FIELDS = tuple(Job.model_fields)
Change = Callable[[Job], dict[str, Any] | None]


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    encoded = {}
    for key, value in fields.items():
        if isinstance(value, JobState):
            value = value.value
        encoded[key] = json.dumps(value)
    return encoded


def _decode(raw: dict[str, str]) -> Job:
    return Job(**{key: json.loads(value) for key, value in raw.items() if key in _FIELDS})


def _missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"Job '{job_id}' does not exist.")


class JobStore(ABC):
    """Create, read and update jobs. A running job whose heartbeat stopped reads back as failed."""

    def create(self, job_type: str, params: dict[str, Any], total: int | None = None,
               runner: str | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex, type=job_type, params=params, total=total, runner=runner)
        self._insert(job.id, job.model_dump(mode="json"))
        return job

    def get(self, job_id: str) -> Job:
        raw = self._read(job_id)
        if raw is None:
            raise _missing(job_id)
        return self._reap(_decode(raw))

    def update(self, job_id: str, **fields: Any) -> None:
        """Write fields that are not the state (progress, heartbeat, cancel request)."""
        self._modify(job_id, lambda job: fields)

    def transition(self, job_id: str, when: Callable[[Job], bool], **fields: Any) -> bool:
        """Write ``fields`` only if ``when(job)`` holds for the job as stored at the write (compare-and-set);
        whether they were written."""
        return self._modify(job_id, lambda job: fields if when(job) else None)

    def finish(self, job_id: str, state: JobState, **fields: Any) -> bool:
        """End an unfinished job as ``state``; False (and nothing written) when it had already ended."""
        return self.transition(job_id, lambda job: not job.state.finished, state=state, finished_at=time.time(),
                               **fields)

    def advance(self, job_id: str, count: int) -> None:
        """Add ``count`` to a job's ``done``."""
        self._modify(job_id, lambda job: {"done": job.done + count})

    def list(self, limit: int = 50) -> list[Job]:
        return [self._reap(_decode(raw)) for raw in self._recent(limit)]

    def _reap(self, job: Job) -> Job:
        if not job.is_stale():
            return job
        self.transition(job.id, Job.is_stale, state=JobState.failed, finished_at=time.time(),
                        error="The worker running this job stopped (killed or lost).")
        return self.get(job.id)

    @abstractmethod
    def _insert(self, job_id: str, fields: dict[str, Any]) -> None: ...

    @abstractmethod
    def _modify(self, job_id: str, change: Change) -> bool:
        """Atomically: read the job, ``change(job)`` → fields to write (None: write nothing); whether it wrote."""

    @abstractmethod
    def _read(self, job_id: str) -> dict[str, str] | None: ...

    @abstractmethod
    def _recent(self, limit: int) -> list[dict[str, str]]: ...


class RedisJobStore(JobStore):
    """One hash per job (``siftrag:job:<id>``), a sorted set of ids by creation time."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)

    def _insert(self, job_id: str, fields: dict[str, Any]) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(f"siftrag:job:{job_id}", mapping=_encode(fields))
        pipe.zadd("siftrag:jobs", {job_id: fields["created_at"]})
        pipe.execute()

    def _modify(self, job_id: str, change: Change) -> bool:
        from redis import WatchError

        key = f"siftrag:job:{job_id}"
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hgetall(key)
                    if not raw:
                        raise _missing(job_id)
                    fields = change(_decode(raw))
                    if fields is None:
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping=_encode(fields))
                    pipe.execute()
                    return True
                except WatchError:  # another writer came first: decide again on what it wrote
                    continue

    def advance(self, job_id: str, count: int) -> None:
        self.redis.hincrby(f"siftrag:job:{job_id}", "done", count)

    def add_queued_steps(self, job_id: str, count: int) -> None:
        """Count ``count`` more steps of the job waiting in the Celery queue (negative: steps that started)."""
        self.redis.hincrby(f"siftrag:job:{job_id}", "queued_steps", count)

    def queued_steps(self, job_id: str) -> int:
        return int(self.redis.hget(f"siftrag:job:{job_id}", "queued_steps") or 0)

    def _read(self, job_id: str) -> dict[str, str] | None:
        return self.redis.hgetall(f"siftrag:job:{job_id}") or None

    def _recent(self, limit: int) -> list[dict[str, str]]:
        ids = self.redis.zrevrange("siftrag:jobs", 0, limit - 1)
        pipe = self.redis.pipeline()
        for job_id in ids:
            pipe.hgetall(f"siftrag:job:{job_id}")
        return [raw for raw in pipe.execute() if raw]


class SqliteJobStore(JobStore):
    """Jobs of the embedded default, in ``<data_dir>/jobs.sqlite`` (readable by the CLI too; several processes,
    e.g. ``serve --workers N`` and the CLI, write it at once)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at REAL, data TEXT)")

    def _insert(self, job_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO jobs VALUES (?, ?, ?)",
                             (job_id, fields["created_at"], json.dumps(_encode(fields))))

    def _modify(self, job_id: str, change: Change) -> bool:
        with self._lock, self._db:  # commits, or rolls back on an exception
            self._db.execute("BEGIN IMMEDIATE")  # the write lock first: no other process writes in between
            row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise _missing(job_id)
            data = json.loads(row[0])
            fields = change(_decode(data))
            if fields is not None:
                self._db.execute("UPDATE jobs SET data = ? WHERE id = ?",
                                 (json.dumps({**data, **_encode(fields)}), job_id))
        return fields is not None

    def _read(self, job_id: str) -> dict[str, str] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _recent(self, limit: int) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [json.loads(row[0]) for row in rows]
