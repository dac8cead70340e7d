"""PostgreSQL for the shared state of several hosts (``SIFTRAG_DATABASE_URL``): one psycopg pool per URL per
process, and siftrag's schema, versioned by ``siftrag_schema``: each entry of ``MIGRATIONS`` runs once, in order,
under an advisory lock (a handful of tables need no migration framework; Alembic would bring SQLAlchemy for them)."""
from __future__ import annotations

import threading
from typing import Any, Literal

from core.errors import BackendUnavailableError

MIGRATIONS = (
    """CREATE TABLE siftrag_documents (
           collection TEXT NOT NULL, id TEXT NOT NULL, content TEXT NOT NULL, meta TEXT NOT NULL,
           content_hash TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (collection, id));
       CREATE TABLE siftrag_revisions (collection TEXT PRIMARY KEY, revision BIGINT NOT NULL);""",
    """CREATE TABLE siftrag_collections (
           name TEXT PRIMARY KEY, description TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, uid TEXT NOT NULL);
       CREATE TABLE siftrag_uploads (id TEXT PRIMARY KEY, body BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL);""",
)
MIGRATION_LOCK = 0x51F7  # pg_advisory_xact_lock key: one process migrates at a time

_POOLS: dict[tuple[str, str], Any] = {}
_POOLS_LOCK = threading.Lock()


def migrate(connection: Any) -> None:
    """Run the migrations this database has not seen yet."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS siftrag_schema (version INTEGER NOT NULL)")
        done = connection.execute("SELECT max(version) FROM siftrag_schema").fetchone()[0] or 0
        for version, statement in enumerate(MIGRATIONS[done:], start=done + 1):
            connection.execute(statement)
            connection.execute("INSERT INTO siftrag_schema VALUES (%s)", (version,))


def connection_pool(url: str, role: Literal["queries", "locks"] = "queries") -> Any:
    """One psycopg pool per database URL and role per process (autocommit connections), the schema migrated on first
    use; BackendUnavailableError with a sentence when psycopg is missing or the server does not answer.

    ``locks`` holds the connections that keep session advisory locks: a lock holder takes a ``queries`` connection
    for each statement, so holders and waiters (any number) never take the connections the holders wait for."""
    with _POOLS_LOCK:
        pool = _POOLS.get((url, role))
        if pool is None:
            try:
                from psycopg_pool import ConnectionPool
            except ImportError:
                raise BackendUnavailableError("SIFTRAG_DATABASE_URL needs psycopg: "
                                              "`pip install siftrag[postgres]`.") from None
            pool = ConnectionPool(url, min_size=1, max_size=8, kwargs={"autocommit": True}, open=False)
            try:
                pool.open(wait=True, timeout=10)
                with pool.connection() as connection:
                    migrate(connection)
            except Exception as error:
                pool.close()
                raise BackendUnavailableError(f"PostgreSQL is unreachable: {type(error).__name__}.") from None
            _POOLS[(url, role)] = pool
    return pool


def close_pool(url: str) -> None:
    """Close this process's pools for ``url`` (if any)."""
    with _POOLS_LOCK:
        pools = [_POOLS.pop(key) for key in list(_POOLS) if key[0] == url]
    for pool in pools:
        pool.close()
