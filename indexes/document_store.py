"""The durable document store of one collection (SQLite, WAL mode, safe across threads)."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from haystack import Document

from core.errors import InvalidInputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    content TEXT NOT NULL,
    meta TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO state VALUES ('revision', 0);
"""


def indexable_text(document: Document) -> str:
    """The text an index sees: the title (when the document has one) followed by the content."""
    title = (document.meta or {}).get("title")
    return f"{title}\n{document.content}" if title else (document.content or "")


def content_hash(text: str) -> str:
    """A stable hash of indexable text (keys the embedding cache)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_rows(documents: Iterable[Document]) -> list[tuple[str, str, str, str, float]]:
    """(id, content, meta as JSON, content hash, time) per document, checked: InvalidInputError for a document
    without an id or text."""
    rows = []
    now = time.time()
    for document in documents:
        if not document.id or not isinstance(document.content, str) or not document.content.strip():
            raise InvalidInputError(f"Document '{document.id}' needs a non-empty id and text content.")
        rows.append((document.id, document.content, json.dumps(document.meta or {}),
                     content_hash(indexable_text(document)), now))
    return rows


class DocumentStore:
    """Documents by id; every write bumps a revision counter that index manifests record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._connection() as connection:
            connection.executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def drop(self) -> None:
        """Close and delete the store's files (the collection is being deleted)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @property
    def revision(self) -> int:
        return self._connection().execute("SELECT value FROM state WHERE key='revision'").fetchone()[0]

    def count(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    def upsert(self, documents: Iterable[Document]) -> int:
        """Add or replace documents in one transaction; returns how many were written."""
        return self.apply(documents, [])[0]

    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id; returns how many existed."""
        return self.apply([], ids)[1]

    def apply(self, documents: Iterable[Document], delete_ids: Iterable[str]) -> tuple[int, int]:
        """Upsert ``documents``, then delete ``delete_ids``, all in one transaction (all land or none):
        (written, deleted). One revision bump when anything was asked."""
        rows = document_rows(documents)
        id_list = list(delete_ids)
        if not rows and not id_list:
            return 0, 0
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)", rows)
            deleted = sum(connection.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
                          for doc_id in id_list)
            connection.execute("UPDATE state SET value = value + 1 WHERE key='revision'")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return len(rows), deleted

    def get(self, ids: list[str]) -> dict[str, Document]:
        """The stored documents among ``ids`` (missing ids are simply absent)."""
        return {doc_id: Document(id=doc_id, content=content, meta=json.loads(meta))
                for doc_id, (content, meta) in self.rows(ids).items()}

    def rows(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """(content, meta as JSON text) of the stored documents among ``ids``: what a search reads before it
        knows which of them it keeps (no ``Document`` built, no meta parsed for the ones it drops)."""
        found: dict[str, tuple[str, str]] = {}
        connection = self._connection()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for doc_id, content, meta in connection.execute(
                f"SELECT id, content, meta FROM documents WHERE id IN ({marks})", chunk
            ):
                found[doc_id] = (content, meta)
        return found

    def iter_documents(self, batch_size: int = 1000) -> Iterator[Document]:
        """All documents in id order, read in batches."""
        last = ""
        connection = self._connection()
        while True:
            rows = connection.execute(
                "SELECT id, content, meta FROM documents WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size)
            ).fetchall()
            if not rows:
                return
            for doc_id, content, meta in rows:
                yield Document(id=doc_id, content=content, meta=json.loads(meta))
            last = rows[-1][0]
