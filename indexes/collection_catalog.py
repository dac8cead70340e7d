"""Which collections exist (name, description, uid) and the per-name lock that create, delete and publish hold:
folders with a ``collection.json`` marker under ``<data_dir>/collections`` (one machine, or hosts sharing that
volume), or a PostgreSQL table when ``SIFTRAG_DATABASE_URL`` is set (hosts share nothing but the database).

``identity(name)`` is what a cached ``Collection`` compares on every request to know it is still the live one: the
marker's (inode, mtime) — one ``stat`` — or the uid row in PostgreSQL."""
from __future__ import annotations

import fcntl
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from core.atomic_publish import write_text_atomic
from core.postgres import connection_pool
from indexes.versions import file_identity

MARKER = "collection.json"


class CollectionCatalog(Protocol):
    def names(self) -> list[str]: ...

    def lock(self, name: str) -> Any:
        """A context manager: the exclusive lock on ``name`` across processes (and hosts, for PostgreSQL)."""
        ...

    def identity(self, name: str) -> object | None:
        """Changes when ``name`` is deleted or re-created; None when it does not exist."""
        ...

    def record(self, name: str) -> dict[str, Any] | None: ...

    def add(self, name: str, description: str) -> None:
        """Record a new collection (the caller holds the lock and checked it is absent)."""
        ...

    def remove(self, name: str) -> None: ...


def new_record(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "created_at": time.time(), "uid": uuid.uuid4().hex}


class FileCatalog:
    """Collections as folders holding ``collection.json``; locks are ``flock``s in ``<root>/.locks``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / MARKER).exists())

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        with open(locks / f"{name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def identity(self, name: str) -> object | None:
        return file_identity(self.root / name / MARKER)

    def record(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / name / MARKER).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def add(self, name: str, description: str) -> None:
        (self.root / name).mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.root / name / MARKER, json.dumps(new_record(name, description)))

    def remove(self, name: str) -> None:
        (self.root / name / MARKER).unlink(missing_ok=True)


class PostgresCatalog:
    """Collections as rows of ``siftrag_collections``; locks are PostgreSQL advisory locks on the name, each held on
    a connection of the separate ``locks`` pool (the work under the lock takes connections of the other), and taken
    by one thread per name per process at a time (the others wait here, holding no connection)."""

    def __init__(self, url: str) -> None:
        self.pool = connection_pool(url)
        self.lock_pool = connection_pool(url, "locks")
        self._local_locks: dict[str, threading.Lock] = {}

    def names(self) -> list[str]:
        with self.pool.connection() as connection:
            return [row[0] for row in connection.execute("SELECT name FROM siftrag_collections ORDER BY name")]

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        key = f"siftrag-collection:{name}"
        with self._local_locks.setdefault(name, threading.Lock()), self.lock_pool.connection() as connection:
            connection.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    def identity(self, name: str) -> object | None:
        with self.pool.connection() as connection:
            row = connection.execute("SELECT uid FROM siftrag_collections WHERE name = %s", (name,)).fetchone()
        return row[0] if row else None

    def record(self, name: str) -> dict[str, Any] | None:
        with self.pool.connection() as connection:
            row = connection.execute("SELECT name, description, created_at, uid FROM siftrag_collections "
                                     "WHERE name = %s", (name,)).fetchone()
        return dict(zip(("name", "description", "created_at", "uid"), row)) if row else None

    def add(self, name: str, description: str) -> None:
        record = new_record(name, description)
        with self.pool.connection() as connection:
            connection.execute("INSERT INTO siftrag_collections VALUES (%s, %s, %s, %s)",
                               (name, description, record["created_at"], record["uid"]))

    def remove(self, name: str) -> None:
        with self.pool.connection() as connection:
            connection.execute("DELETE FROM siftrag_collections WHERE name = %s", (name,))
