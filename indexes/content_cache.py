"""Values computed from texts, cached on disk by the texts' content hash (SQLite), so rebuilds and
re-ingests compute only what is new: dense embeddings, TILDEv2 expansions and TILDEv2 impacts."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from indexes.contract import ProgressCallback
from indexes.document_store import content_hash

Value = TypeVar("Value")
LOOKUP_CHUNK = 500


class ContentCache:
    """One SQLite table: content hash → a row of BLOB/TEXT columns."""

    def __init__(self, path: Path, table: str, columns: tuple[str, ...]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.width = len(columns)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (hash TEXT PRIMARY KEY, {', '.join(columns)})")

    def get_many(self, hashes: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        found: dict[str, tuple[Any, ...]] = {}
        with self._lock:
            for start in range(0, len(hashes), LOOKUP_CHUNK):
                chunk = list(hashes[start:start + LOOKUP_CHUNK])
                marks = ",".join("?" * len(chunk))
                for key, *row in self._connection.execute(
                    f"SELECT * FROM {self.table} WHERE hash IN ({marks})", chunk
                ):
                    found[key] = tuple(row)
        return found

    def put_many(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (hash, *columns)."""
        marks = ",".join("?" * (self.width + 1))
        with self._lock:
            self._connection.executemany(f"INSERT OR REPLACE INTO {self.table} VALUES ({marks})", rows)

    def close(self) -> None:
        self._connection.close()


def cached_compute(
    texts: Sequence[str], cache: ContentCache, compute: Callable[[list[str]], Sequence[Value]],
    to_row: Callable[[Value], tuple[Any, ...]], from_row: Callable[[tuple[Any, ...]], Value],
    chunk: int = 256, progress: ProgressCallback | None = None,
) -> list[Value]:
    """``compute`` over the texts whose hash is not cached (in chunks, storing each), the rest from the cache;
    one value per text, in order. ``progress(done, total)`` counts cached texts as done."""
    hashes = [content_hash(text) for text in texts]
    found = {key: from_row(row) for key, row in cache.get_many(sorted(set(hashes))).items()}
    missing = list({h: i for i, h in enumerate(hashes) if h not in found}.items())  # each new text once
    done = len(texts) - len(missing)
    if progress:
        progress(done, len(texts))
    for start in range(0, len(missing), chunk):
        part = missing[start:start + chunk]
        values = compute([texts[i] for _, i in part])
        cache.put_many([(key, *to_row(value)) for (key, _), value in zip(part, values, strict=True)])
        found.update({key: value for (key, _), value in zip(part, values, strict=True)})
        done += len(part)
        if progress:
            progress(done, len(texts))
    return [found[h] for h in hashes]
