"""The PostgreSQL document store on the local server (every machine of ours runs one): a database of its own per
test session, dropped at the end."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from haystack import Document

from core.errors import InvalidInputError
from core.postgres import MIGRATIONS, connection_pool, migrate
from core.settings import get_settings
from indexes.collection import CollectionManager
from indexes.postgres_document_store import PostgresDocumentStore
from tests.service_processes import postgres_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_documents_revisions_and_atomic_writes(database_url: str) -> None:
    store = PostgresDocumentStore(database_url, "docs/1")
    other = PostgresDocumentStore(database_url, "docs/2")
    assert store.revision == 0 and store.count() == 0
    assert store.upsert([Document(id=f"d{i}", content=f"text {i}", meta={"n": i}) for i in range(1205)]) == 1205
    other.upsert([Document(id="d1", content="another collection's d1")])
    assert store.count() == 1205 and store.revision == 1 and other.count() == 1
    assert store.get(["d7", "missing"])["d7"].meta == {"n": 7}
    assert store.get(["d1"])["d1"].content == "text 1"
    assert [d.id for d in store.iter_documents(batch_size=100)] == sorted(f"d{i}" for i in range(1205))
    with pytest.raises(InvalidInputError, match="non-empty id and text"):
        store.apply([Document(id="new", content="fine"), Document(id="bad", content="  ")], ["d2"])
    assert store.count() == 1205 and store.revision == 1 and not store.get(["new"])  # nothing landed
    assert store.apply([Document(id="d3", content="replaced")], ["d2", "nope"]) == (1, 1)
    assert store.get(["d3"])["d3"].content == "replaced" and not store.get(["d2"]) and store.revision == 2
    store.drop()
    assert PostgresDocumentStore(database_url, "docs/1").count() == 0 and other.count() == 1


def test_migrations_run_once(database_url: str) -> None:
    pool = connection_pool(database_url)
    with pool.connection() as connection:
        migrate(connection)
        versions = [row[0] for row in connection.execute("SELECT version FROM siftrag_schema ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_a_collection_keeps_its_documents_in_postgres(database_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFTRAG_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        manager = CollectionManager(tmp_path)
        collection = manager.create("pg-docs")
        collection.store.upsert([Document(id="a", content="postgres keeps the documents"),
                                 Document(id="b", content="bm25 reads them from there")])
        assert not (collection.root / "store.sqlite").exists()
        collection.build("bm25")
        assert [d.content for d in collection.search("bm25", ["documents postgres"], top_k=1)[0]] == [
            "postgres keeps the documents"]
        manager.delete("pg-docs")
        again = manager.create("pg-docs")  # a new uid: it starts empty
        assert again.store.count() == 0
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
