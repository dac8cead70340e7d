"""Make a BEIR dataset's corpus a siftrag collection, ingesting and indexing only when needed."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from haystack import Document

from core.errors import ConflictError
from evals.beir_loader import corpus_file, read_corpus
from indexes.collection import Collection, CollectionManager
from indexes.contract import ProgressCallback
from indexes.index_kind import index_kind

INGEST_BATCH = 1000
SOURCE_MARKER = "source.json"


def corpus_fingerprint(root: Path) -> str:
    path = corpus_file(root)
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:16]


def collection_name_for(root: Path) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", root.resolve().name.lower()).strip("-") or "dataset"
    return f"beir-{slug}"[:64]


def _batched(documents: Iterable[Document], size: int) -> Iterable[list[Document]]:
    batch: list[Document] = []
    for document in documents:
        batch.append(document)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def check_dataset_collection(manager: CollectionManager, root: Path, name: str | None = None) -> str:
    """The collection name for ``root``; ConflictError when a collection of that name exists that was not made
    from this folder (a user's collection, or another dataset with the same folder name): it is never touched."""
    name = name or collection_name_for(root)
    if name not in manager.names():
        return name
    marker = manager.get(name).root / SOURCE_MARKER
    source = json.loads(marker.read_text()).get("source") if marker.exists() else None
    if source != str(root.resolve()):
        made_from = f"made from {source}" if source else "not made from a dataset"
        raise ConflictError(f"Collection '{name}' exists and was {made_from}, not from {root.resolve()}: an "
                            "evaluation never replaces it. Delete it or move the dataset to a folder of another name.")
    return name


def ensure_dataset_collection(
    manager: CollectionManager, root: Path, kinds: Iterable[str], name: str | None = None,
    progress: ProgressCallback | None = None,
) -> Collection:
    """A collection holding ``root``'s corpus with live, up-to-date indexes of ``kinds``.

    The corpus is (re)ingested when its file changed since the last ingest; an index is rebuilt when
    it is missing, older than the store, or built with another model than the configured one (or the collection's
    tuned encoder, `siftrag tune`). The corpus is validated completely before anything is
    written, so a malformed file never leaves a half-ingested collection.
    """
    name = check_dataset_collection(manager, root, name)
    created = name not in manager.names()
    collection = manager.create(name, exist_ok=True)
    marker = collection.root / SOURCE_MARKER
    if created:  # claimed for this folder before anything is ingested, so a crash cannot orphan it
        marker.write_text(json.dumps({"source": str(root.resolve()), "fingerprint": None}))
    fingerprint = corpus_fingerprint(root)
    known = json.loads(marker.read_text()) if marker.exists() else {}
    if known.get("fingerprint") != fingerprint:
        documents = list(read_corpus(root))
        stale = {d.id for d in collection.store.iter_documents()} - {d.id for d in documents}
        for batch in _batched(documents, INGEST_BATCH):
            collection.store.upsert(batch)
        if stale:
            collection.store.delete(sorted(stale))
        marker.write_text(json.dumps({"source": str(root.resolve()), "fingerprint": fingerprint}))
    for kind in kinds:
        status = collection.status()["indexes"][kind]
        live = status["live_version"]
        tuned = collection.models.live_path(kind)  # a collection tuned with `siftrag tune` keeps its encoder
        wanted_model = str(tuned) if tuned else index_kind(kind).model_for({})
        built_with = collection.versions(kind).manifest(live).get("model") if live else None
        other_model = wanted_model is not None and built_with != wanted_model
        if live is None or status["stale"] or other_model:
            collection.build(kind, progress=progress)
    return collection
