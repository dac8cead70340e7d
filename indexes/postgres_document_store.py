"""The document store of one collection in PostgreSQL (``SIFTRAG_DATABASE_URL``), shared by every host: the same
interface as the SQLite ``DocumentStore``, rows keyed by (collection key, id), one revision counter per collection."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from haystack import Document

from core.postgres import connection_pool
from indexes.document_store import document_rows

READ_CHUNK = 500


class PostgresDocumentStore:
    """Documents of one collection (``key``: its name and uid, so a re-created collection starts empty)."""

    def __init__(self, url: str, key: str) -> None:
        self.pool = connection_pool(url)
        self.key = key
        with self.pool.connection() as connection:
            connection.execute("INSERT INTO siftrag_revisions VALUES (%s, 0) ON CONFLICT DO NOTHING", (key,))

    def close(self) -> None:
        """Connections belong to the process's pool: nothing to close per collection."""

    @property
    def revision(self) -> int:
        with self.pool.connection() as connection:
            row = connection.execute("SELECT revision FROM siftrag_revisions WHERE collection = %s",
                                     (self.key,)).fetchone()
        return row[0] if row else 0

    def count(self) -> int:
        with self.pool.connection() as connection:
            return connection.execute("SELECT count(*) FROM siftrag_documents WHERE collection = %s",
                                      (self.key,)).fetchone()[0]

    def upsert(self, documents: Iterable[Document]) -> int:
        return self.apply(documents, [])[0]

    def delete(self, ids: Iterable[str]) -> int:
        return self.apply([], ids)[1]

    def apply(self, documents: Iterable[Document], delete_ids: Iterable[str]) -> tuple[int, int]:
        """Upsert, then delete, in one transaction; one revision bump when anything was asked."""
        rows = document_rows(documents)
        id_list = list(delete_ids)
        if not rows and not id_list:
            return 0, 0
        with self.pool.connection() as connection, connection.transaction():
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO siftrag_documents VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (collection, id) "
                    "DO UPDATE SET content = EXCLUDED.content, meta = EXCLUDED.meta, "
                    "content_hash = EXCLUDED.content_hash, updated_at = EXCLUDED.updated_at",
                    [(self.key, *row) for row in rows])
            deleted = connection.execute("DELETE FROM siftrag_documents WHERE collection = %s AND id = ANY(%s)",
                                         (self.key, id_list)).rowcount if id_list else 0
            connection.execute("UPDATE siftrag_revisions SET revision = revision + 1 WHERE collection = %s",
                               (self.key,))
        return len(rows), deleted

    def get(self, ids: list[str]) -> dict[str, Document]:
        return {doc_id: Document(id=doc_id, content=content, meta=json.loads(meta))
                for doc_id, (content, meta) in self.rows(ids).items()}

    def rows(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """(content, meta as JSON text) of the stored documents among ``ids``."""
        found: dict[str, tuple[str, str]] = {}
        with self.pool.connection() as connection:
            for start in range(0, len(ids), READ_CHUNK):
                for doc_id, content, meta in connection.execute(
                        "SELECT id, content, meta FROM siftrag_documents WHERE collection = %s AND id = ANY(%s)",
                        (self.key, ids[start:start + READ_CHUNK])):
                    found[doc_id] = (content, meta)
        return found

    def iter_documents(self, batch_size: int = 1000) -> Iterator[Document]:
        """All documents in id order, read in batches."""
        last = ""
        while True:
            with self.pool.connection() as connection:
                rows = connection.execute(
                    "SELECT id, content, meta FROM siftrag_documents WHERE collection = %s AND id > %s "
                    "ORDER BY id LIMIT %s", (self.key, last, batch_size)).fetchall()
            if not rows:
                return
            for doc_id, content, meta in rows:
                yield Document(id=doc_id, content=content, meta=json.loads(meta))
            last = rows[-1][0]

    def drop(self) -> None:
        """Remove every document and the revision of this collection."""
        with self.pool.connection() as connection, connection.transaction():
            connection.execute("DELETE FROM siftrag_documents WHERE collection = %s", (self.key,))
            connection.execute("DELETE FROM siftrag_revisions WHERE collection = %s", (self.key,))
