"""Passage impacts cached by content hash (SQLite), one file per scorer and expansion setting.

TILDEv2 scores need no collection statistics, so a rebuild after adding passages encodes only the new ones.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexes.tilde.scorer import PassageImpacts


class ImpactCache:
    """(token ids, float16 weights) per passage text hash."""

    def __init__(self, path: Path, id_dtype: type) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.id_dtype = id_dtype
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("CREATE TABLE IF NOT EXISTS impacts (hash TEXT PRIMARY KEY, ids BLOB, weights BLOB)")

    def get_many(self, hashes: Sequence[str]) -> dict[str, PassageImpacts]:
        found: dict[str, PassageImpacts] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, ids, weights in self._connection.execute(
                    f"SELECT hash, ids, weights FROM impacts WHERE hash IN ({marks})", chunk
                ):
                    found[key] = (np.frombuffer(ids, dtype=self.id_dtype), np.frombuffer(weights, dtype=np.float16))
        return found

    def put_many(self, hashes: Sequence[str], impacts: Sequence[PassageImpacts]) -> None:
        rows = [(key, ids.tobytes(), weights.tobytes()) for key, (ids, weights) in zip(hashes, impacts)]
        with self._lock:
            self._connection.executemany("INSERT OR REPLACE INTO impacts VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._connection.close()
