"""A Haystack retriever component over one index kind of a siftrag collection."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from core.settings import get_settings
from indexes.collection import Collection, CollectionManager
from indexes.index_kind import index_kind

_MANAGERS: dict[Path, CollectionManager] = {}  # by resolved data dir
_BY_PATH: dict[Path, CollectionManager] = {}  # by the absolute path asked for


def collection_manager(data_dir: Path | None = None) -> CollectionManager:
    """The process-wide manager for ``data_dir`` (default: settings), so loaded indexes are shared."""
    given = Path(data_dir or get_settings().data_dir)
    key = given if given.is_absolute() else Path.cwd() / given  # no symlink walk on every request
    manager = _BY_PATH.get(key)
    if manager is None:
        root = key.resolve()
        if root not in _MANAGERS:
            _MANAGERS[root] = CollectionManager(root)
        manager = _BY_PATH[key] = _MANAGERS[root]
    return manager


def tuned_model(collection: str, kind: str) -> str | None:
    """The folder of the model tuned for ``collection`` (``siftrag tune``) that serves ``kind``, or None."""
    path = collection_manager().get(collection).models.live_path(kind)
    return str(path) if path else None


@component
class SiftragRetriever:
    """Retrieve from a collection's live ``bm25`` or ``dense`` index."""

    def __init__(self, collection: str, kind: str = "bm25", top_k: int = 10, data_dir: str | None = None) -> None:
        index_kind(kind)
        self.collection = collection
        self.kind = kind
        self.top_k = top_k
        self.data_dir = data_dir

    def _collection(self) -> Collection:
        return collection_manager(Path(self.data_dir) if self.data_dir else None).get(self.collection)

    def warm_up(self) -> None:
        """Open the live index now (kept in memory by the collection) rather than on the first ``run``."""
        self._collection().loaded(self.kind)

    @component.output_types(documents=list[Document])
    def run(self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"documents": self.run_batch([query], top_k, filters)[0]}

    def run_batch(self, queries: list[str], top_k: int | None = None,
                  filters: dict[str, Any] | None = None) -> list[list[Document]]:
        """Several queries in one index call (what batch evaluation uses)."""
        return self._collection().search(self.kind, queries, top_k or self.top_k, filters)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, collection=self.collection, kind=self.kind, top_k=self.top_k,
                               data_dir=self.data_dir)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SiftragRetriever":
        return default_from_dict(cls, data)
