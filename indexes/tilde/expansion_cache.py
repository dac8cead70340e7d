"""Expanded passage texts cached by content hash, shared by TILDEv2 training and index builds."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from core.settings import get_settings
from indexes.document_store import content_hash

CHUNK = 256


def expand_with_cache(texts: Sequence[str], top_k: int, expand: Callable[[list[str]], list[str]],
                      progress: Callable[[int, int], None] | None = None) -> list[str]:
    """``expand`` applied to the texts not expanded before with this ``top_k``; the rest come from disk."""
    path: Path = get_settings().data_dir / "cache" / f"tilde-expansions-x{top_k}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS expansions (hash TEXT PRIMARY KEY, text TEXT)")
        hashes = [content_hash(text) for text in texts]
        found: dict[str, str] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(connection.execute(f"SELECT hash, text FROM expansions WHERE hash IN ({marks})", chunk))
        missing = list({h: i for i, h in enumerate(hashes) if h not in found}.items())
        for start in range(0, len(missing), CHUNK):
            chunk_items = missing[start:start + CHUNK]
            expanded = expand([texts[i] for _, i in chunk_items])
            connection.executemany("INSERT OR REPLACE INTO expansions VALUES (?, ?)",
                                   [(h, text) for (h, _), text in zip(chunk_items, expanded)])
            found.update({h: text for (h, _), text in zip(chunk_items, expanded)})
            if progress:
                progress(len(texts) - len(missing) + start + len(chunk_items), len(texts))
        return [found[h] for h in hashes]
    finally:
        connection.close()
