"""A named collection: its document store, its index versions per kind, build and search."""
from __future__ import annotations

import gc
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haystack import Document

from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.settings import get_settings
from indexes.collection_catalog import CollectionCatalog, FileCatalog, PostgresCatalog
from indexes.collection_models import CollectionModels
from indexes.contract import FilteredIndex, Hits, LoadedIndex, ProgressCallback
from indexes.document_store import DocumentStore, indexable_text
from indexes.index_kind import KIND_NAMES, check_kind, index_kind
from indexes.metadata_filter import check_filter, matches
from indexes.milvus_filter import milvus_expression
from indexes.versions import IndexVersions

if TYPE_CHECKING:
    from indexes.milvus_versions import MilvusVersions
    from indexes.postgres_document_store import PostgresDocumentStore

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FILTER_OVERFETCH = 10


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise InvalidInputError(
            f"Invalid collection name '{name}': use 1-64 lowercase letters, digits, '-' or '_'."
        )
    return name


def open_document_store(root: Path, uid: str | None) -> DocumentStore | PostgresDocumentStore:
    """The collection's documents: in PostgreSQL when ``SIFTRAG_DATABASE_URL`` is set (keyed by name and uid, so a
    re-created collection starts empty), else in ``store.sqlite`` inside the collection folder."""
    url = get_settings().database_url
    if url:
        from indexes.postgres_document_store import PostgresDocumentStore

        return PostgresDocumentStore(url, f"{root.name}/{uid or ''}")
    return DocumentStore(root / "store.sqlite")


class Collection:
    """One collection: its catalog entry, its documents, its index versions. Loaded index versions are cached and
    swapped when the live version changes. ``root`` is this host's folder for it (local index files, caches)."""

    def __init__(self, root: Path, catalog: CollectionCatalog) -> None:
        self.root = root
        self.name = root.name
        self.catalog = catalog
        self.identity = catalog.identity(self.name)
        self.uid = (catalog.record(self.name) or {}).get("uid") if self.identity is not None else None
        root.mkdir(parents=True, exist_ok=True)
        self.store = open_document_store(root, self.uid)
        self.models = CollectionModels(root)
        self._loaded: dict[str, tuple[str, LoadedIndex]] = {}
        self._current: dict[str, tuple[object, str | None]] = {}  # the live pointer's identity → version
        self._load_lock = threading.Lock()

    def versions(self, kind: str) -> IndexVersions | MilvusVersions:
        """The versions of ``kind`` on the configured backend: folders under the collection, or Milvus collections
        behind an alias named after the collection, its uid (a re-created collection starts empty) and the kind."""
        check_kind(kind)
        if get_settings().index_backend == "milvus":
            from indexes.milvus_connection import physical_name
            from indexes.milvus_versions import MilvusVersions

            return MilvusVersions(physical_name("sr", self.name, self.uid or "", kind))
        return IndexVersions(self.root / "indexes" / kind)

    def build(self, kind: str, options: dict[str, Any] | None = None, progress: ProgressCallback | None = None,
              before_publish: Callable[[], None] | None = None) -> str:
        """Build a new version of ``kind`` from the current documents and publish it atomically; ``before_publish``
        runs right before the publish and may raise to publish nothing (a job's cancellation check). A dense build
        with no ``model`` option encodes with the collection's tuned encoder when it has one."""
        builder = index_kind(kind)
        tuned = self.models.live_path(kind)
        if tuned is not None and not (options or {}).get("model"):
            options = {**(options or {}), "model": str(tuned)}
        versions = self.versions(kind)
        versions.remove_stale_staging()
        revision = self.store.revision
        documents = list(self.store.iter_documents())
        if not documents:
            raise InvalidInputError(f"Collection '{self.name}' has no documents to index.")
        started = time.time()
        deleted = ConflictError(f"Collection '{self.name}' was deleted during the '{kind}' build: nothing was "
                                "published.")
        with versions.staging() as staging:
            try:
                manifest = builder.build([d.id for d in documents], [indexable_text(d) for d in documents],
                                         [d.meta for d in documents], staging, progress, options or {})
            except Exception:
                if not self.is_live():  # the delete removed the staging folder under the builder
                    raise deleted from None
                raise
            manifest.update(kind=kind, store_revision=revision, built_at=time.time(),
                            build_seconds=round(time.time() - started, 3))
            with self.catalog.lock(self.name):  # fenced: a collection deleted (or re-created) meanwhile gets nothing
                if not self.is_live():
                    raise deleted
                if before_publish is not None:
                    before_publish()
                return versions.publish(staging, manifest)

    def _shown_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """A manifest as status shows it: a model tuned for this collection by its folder name, not its path."""
        model = manifest.get("model")
        if isinstance(model, str) and model.startswith(f"{self.root}/"):
            return {**manifest, "model": f"tuned:{Path(model).name}"}
        return manifest

    def is_live(self) -> bool:
        """Whether this object still is the catalog's collection (not deleted, not deleted and re-created)."""
        if self.catalog.identity(self.name) == self.identity:
            return self.identity is not None
        if self.uid is None:
            return False
        return (self.catalog.record(self.name) or {}).get("uid") == self.uid

    def loaded(self, kind: str) -> tuple[str, LoadedIndex]:
        """The live version of ``kind`` in memory, reloaded when a newer version was published."""
        versions = self.versions(kind)
        identity = versions.current_identity()
        known = self._current.get(kind)
        current = known[1] if identity is not None and known and known[0] == identity else versions.current()
        self._current[kind] = (identity, current)
        if current is None:
            raise NotFoundError(f"Collection '{self.name}' has no '{kind}' index yet: build it first.")
        cached = self._loaded.get(kind)
        if cached and cached[0] == current:
            return cached
        with self._load_lock:
            cached = self._loaded.get(kind)
            if not cached or cached[0] != current:
                loaded = index_kind(kind).load(versions.target(current), versions.manifest(current))
                cached = (current, loaded)
                self._loaded[kind] = cached
                gc.freeze()  # the index lives as long as the process: full collections stop re-scanning it
        return cached

    def search(self, kind: str, queries: Sequence[str], top_k: int = 10,
               filters: dict[str, Any] | None = None) -> list[list[Document]]:
        """Per query, the top_k stored documents with scores. Documents deleted since the build are
        skipped; ``filters`` use Haystack's filter syntax on document metadata."""
        for query in queries:
            if not isinstance(query, str) or not query.strip():
                raise InvalidInputError("Query must be a non-empty string.")
        if filters:
            check_filter(filters)
        _, index = self.loaded(kind)
        fetch = top_k * FILTER_OVERFETCH if filters else top_k + 10
        expression = milvus_expression(filters) if filters and isinstance(index, FilteredIndex) else None
        if expression:  # the index narrows to matching metadata; every hit is still checked below
            hits_per_query = index.search_where(list(queries), fetch, expression)
        else:
            hits_per_query = index.search(list(queries), fetch)
        stored = self._stored_rows(hits_per_query, None if filters else top_k)
        results = []
        for hits in hits_per_query:
            documents = []
            for doc_id, score in hits:
                row = stored.get(doc_id)
                if row is None:
                    continue
                document = Document(id=doc_id, content=row[0], meta=json.loads(row[1]), score=score)
                if filters and not matches(filters, document):
                    continue
                documents.append(document)
                if len(documents) == top_k:
                    break
            results.append(documents)
        return results

    def _stored_rows(self, hits_per_query: list[Hits], first: int | None) -> dict[str, tuple[str, str]]:
        """The stored rows of the hits: of only the ``first`` of each query when all of those are still stored
        (the usual case: half the reads), else of all of them."""
        wanted = {doc_id for hits in hits_per_query for doc_id, _ in hits[:first]}
        stored = self.store.rows(sorted(wanted))
        if first is not None and len(stored) < len(wanted):
            rest = {doc_id for hits in hits_per_query for doc_id, _ in hits[first:]} - wanted
            stored.update(self.store.rows(sorted(rest)))
        return stored

    def status(self) -> dict[str, Any]:
        """Document count, store revision, and per kind the live version and its manifest."""
        indexes = {}
        for kind in KIND_NAMES:
            versions = self.versions(kind)
            current = versions.current()
            indexes[kind] = {
                "live_version": current,
                "versions": versions.list(),
                "manifest": self._shown_manifest(versions.manifest(current)) if current else None,
                "stale": bool(current) and versions.manifest(current)["store_revision"] != self.store.revision,
            }
        return {"name": self.name, "documents": self.store.count(), "revision": self.store.revision,
                "indexes": indexes, "tuned_models": self.models.describe()}


class CollectionManager:
    """All collections of the catalog (PostgreSQL when ``SIFTRAG_DATABASE_URL`` is set, else the folders under
    ``<data_dir>/collections``); one Collection object per name per process."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "collections"
        self.root.mkdir(parents=True, exist_ok=True)
        url = get_settings().database_url
        self.catalog: CollectionCatalog = PostgresCatalog(url) if url else FileCatalog(self.root)
        self._open: dict[str, Collection] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return self.catalog.names()

    def create(self, name: str, description: str = "", exist_ok: bool = False) -> Collection:
        validate_name(name)
        with self.catalog.lock(name):
            if self.catalog.identity(name) is not None:
                if exist_ok:
                    return self.get(name)
                raise ConflictError(f"Collection '{name}' already exists.")
            self.catalog.add(name, description)
        return self.get(name)

    def get(self, name: str) -> Collection:
        with self._lock:
            collection = self._open.get(name)
            if collection is not None and collection.is_live():
                return collection
            if not NAME_PATTERN.match(name or "") or self.catalog.identity(name) is None:
                raise NotFoundError(f"Collection '{name}' does not exist.")
            collection = Collection(self.root / name, self.catalog)
            self._open[name] = collection
            return collection

    def delete(self, name: str) -> None:
        """Remove the collection; a build of it still running publishes nothing (see ``Collection.build``)."""
        collection = self.get(name)
        with self._lock:
            self._open.pop(name, None)
        with self.catalog.lock(name):  # the entry goes first: no ingest or publish lands after the data is dropped
            self.catalog.remove(name)
            collection.store.drop()
            if get_settings().index_backend == "milvus":
                for kind in KIND_NAMES:
                    collection.versions(kind).drop_all()
            shutil.rmtree(collection.root, ignore_errors=True)
