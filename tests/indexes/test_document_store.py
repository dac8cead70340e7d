"""The SQLite document store: durable upserts, deletes, revisions."""
from __future__ import annotations

from pathlib import Path

import pytest
from haystack import Document

from core.errors import InvalidInputError
from indexes.document_store import DocumentStore


def test_upsert_get_delete_and_revision(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "s.sqlite")
    assert store.upsert([Document(id="a", content="alpha", meta={"title": "A"}), Document(id="b", content="beta")]) == 2
    first = store.revision
    store.upsert([Document(id="a", content="alpha two")])
    assert store.revision == first + 1
    assert store.get(["a", "zz"])["a"].content == "alpha two"
    assert store.delete(["b", "missing"]) == 1
    store.close()
    reopened = DocumentStore(tmp_path / "s.sqlite")
    assert reopened.count() == 1
    assert [d.id for d in reopened.iter_documents()] == ["a"]


def test_empty_content_rejected_without_partial_write(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "s.sqlite")
    with pytest.raises(InvalidInputError, match="non-empty"):
        store.upsert([Document(id="ok", content="fine"), Document(id="bad", content="  ")])
    assert store.count() == 0
