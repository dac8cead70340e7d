"""Sources replaced and deleted as a whole on both document stores (SQLite, and PostgreSQL on the local server):
a shorter re-upload leaves no orphan chunk, the same sha256 writes nothing, a delete removes every chunk."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import NotFoundError
from indexes.document_store import DocumentStore
from indexes.sources.chunking import chunk_source
from indexes.sources.file_names import source_id
from indexes.sources.source_catalog import delete_source, replace_sources, stored_sources
from indexes.sources.source_file import SourceFile, sha256_hex


def source(name: str, text: str) -> SourceFile:
    return SourceFile(name=name, source_id=source_id(name), mime_type="text/plain", size=len(text),
                      sha256=sha256_hex(text.encode()), pages=[text])


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    if request.param == "sqlite":
        yield DocumentStore(tmp_path / "docs.sqlite")
        return
    from indexes.postgres_document_store import PostgresDocumentStore
    from tests.service_processes import postgres_database

    with postgres_database() as url:
        postgres = PostgresDocumentStore(url, "sources/1")
        yield postgres
        postgres.drop()


def test_replace_keep_and_delete(store) -> None:
    long, other = source("a.txt", "word " * 400), source("b.txt", "other text")
    first = replace_sources(store, {s.source_id: chunk_source(s, 50, 10) for s in (long, other)})
    assert first[long.source_id]["status"] == "added" and first[long.source_id]["chunks"] > 5
    revision = store.revision
    again = replace_sources(store, {long.source_id: chunk_source(long, 50, 10)})
    assert again[long.source_id]["status"] == "unchanged" and store.revision == revision
    short = source("a.txt", "just a few words now")
    assert replace_sources(store, {short.source_id: chunk_source(short)})[short.source_id] == {
        "status": "replaced", "chunks": 1}
    sources = stored_sources(store)
    assert sources[short.source_id].chunk_ids == [f"{short.source_id}:0"]
    assert sources[short.source_id].sha256 == short.sha256 and store.count() == 2
    assert delete_source(store, other.source_id) == 1 and set(stored_sources(store)) == {short.source_id}
    with pytest.raises(NotFoundError):
        delete_source(store, other.source_id)
