"""The sources of a collection's document store, read from their chunks' meta, and their replacement or removal
in one store transaction (a re-upload leaves no orphan chunk; a crash lands nothing)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from haystack import Document

from core.errors import NotFoundError


class Store(Protocol):
    def iter_documents(self, batch_size: int = 1000) -> Any: ...

    def apply(self, documents: Any, delete_ids: Any) -> tuple[int, int]: ...


@dataclass
class StoredSource:
    """A source as stored: the ``source_*`` meta of its chunks and their ids."""

    meta: dict[str, Any]
    chunk_ids: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str | None:
        return self.meta.get("source_sha256")

    def listing(self) -> dict[str, Any]:
        return {"id": self.meta["source_id"], "name": self.meta.get("source_name"),
                "type": self.meta.get("source_type"), "size": self.meta.get("source_size"),
                "sha256": self.sha256, "pages": self.meta.get("source_pages"), "title": self.meta.get("source_title"),
                "chunks": len(self.chunk_ids)}


def stored_sources(store: Store) -> dict[str, StoredSource]:
    """Every source of the store by id (one pass over the documents; documents without a source are skipped)."""
    sources: dict[str, StoredSource] = {}
    for document in store.iter_documents():
        sid = (document.meta or {}).get("source_id")
        if isinstance(sid, str):
            entry = sources.setdefault(sid, StoredSource({k: v for k, v in document.meta.items()
                                                          if k.startswith("source_")}))
            entry.chunk_ids.append(document.id)
    return sources


def replace_sources(store: Store, chunks: dict[str, list[Document]]) -> dict[str, dict[str, Any]]:
    """Write each source's chunks in place of its stored ones, in one transaction; a source whose sha256 is
    already stored is left alone. Per source id: ``{"status": "added"|"replaced"|"unchanged", "chunks": n}``."""
    stored = stored_sources(store)
    outcomes: dict[str, dict[str, Any]] = {}
    upserts: list[Document] = []
    stale: list[str] = []
    for sid, documents in chunks.items():
        old = stored.get(sid)
        if old is not None and old.sha256 == documents[0].meta.get("source_sha256"):
            outcomes[sid] = {"status": "unchanged", "chunks": len(old.chunk_ids)}
            continue
        upserts.extend(documents)
        keep = {document.id for document in documents}
        stale.extend(chunk for chunk in (old.chunk_ids if old else []) if chunk not in keep)
        outcomes[sid] = {"status": "replaced" if old else "added", "chunks": len(documents)}
    store.apply(upserts, stale)
    return outcomes


def delete_source(store: Store, source_id: str) -> int:
    """Remove every chunk of ``source_id`` (one transaction); how many; NotFoundError for an unknown source."""
    source = stored_sources(store).get(source_id)
    if source is None:
        raise NotFoundError(f"No source '{source_id[:100]}' in this collection.")
    return store.apply([], source.chunk_ids)[1]
