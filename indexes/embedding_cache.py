"""Embeddings cached by content hash (SQLite), so rebuilds and re-ingests only encode new text."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class EmbeddingCache:
    """float32 vectors keyed by the sha256 of the encoded text, one file per model."""

    def __init__(self, path: Path, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB)")

    def get_many(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, blob in self._connection.execute(
                    f"SELECT hash, vector FROM vectors WHERE hash IN ({marks})", chunk
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(key, np.asarray(vector, dtype=np.float32).tobytes()) for key, vector in zip(hashes, vectors)]
        with self._lock:
            self._connection.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
