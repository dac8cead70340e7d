"""Versioned Milvus collections of one index kind of one collection, switched atomically by a Milvus alias.

    <prefix>                       the alias readers resolve: the live version
    <prefix>__v<epoch ns>_<pid>_<hex>  one physical Milvus collection per build; finished builds carry their manifest
                                   as the collection property ``siftrag.manifest`` (set last, before the switch)

A build fills a new physical collection; publishing sets its manifest, then ``alter_alias`` points the alias at it.
A crash before the switch leaves the alias where it was; the unfinished collection is dropped by the next build
(after an hour, so a build still running elsewhere keeps its collection). No host needs another host's disk.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import BackendUnavailableError
from indexes.milvus_connection import milvus_client
from indexes.versions import KEEP_VERSIONS

MANIFEST_PROPERTY = "siftrag.manifest"


def _milvus_errors() -> tuple[type[Exception], ...]:
    from pymilvus.exceptions import MilvusException

    return (MilvusException,)


class MilvusVersions:
    """The versions of one index kind of one collection on the Milvus backend (same interface as IndexVersions,
    with Milvus collection names where IndexVersions has folders)."""

    def __init__(self, prefix: str) -> None:
        self.alias = prefix
        self._prefix = prefix + "__"
        self.client = milvus_client()

    def target(self, version: str) -> str:
        """The physical Milvus collection of ``version``."""
        return self._prefix + version

    def current_identity(self) -> str | None:
        """The physical collection the alias points at: a new publish gives a new one."""
        if self.alias not in self.client.list_aliases().get("aliases", []):
            return None  # asked first: describing a missing alias logs an error inside pymilvus
        try:
            return self.client.describe_alias(alias=self.alias)["collection_name"]
        except _milvus_errors():  # dropped in between
            return None

    def current(self) -> str | None:
        """The live version name, or None when nothing was published."""
        physical = self.current_identity()
        if physical is None or not physical.startswith(self._prefix):
            return None
        version = physical[len(self._prefix):]
        return version if self._manifest_or_none(version) is not None else None

    def manifest(self, version: str) -> dict[str, Any]:
        manifest = self._manifest_or_none(version)
        if manifest is None:
            raise BackendUnavailableError(f"Milvus collection {self.target(version)} has no finished index.")
        return manifest

    def _manifest_or_none(self, version: str) -> dict[str, Any] | None:
        try:
            properties = self.client.describe_collection(self.target(version)).get("properties") or {}
        except _milvus_errors():
            return None
        text = properties.get(MANIFEST_PROPERTY)
        return json.loads(text) if text else None

    def _physical(self) -> list[str]:
        return sorted(name for name in self.client.list_collections() if name.startswith(self._prefix))

    def list(self) -> list[str]:
        """Finished versions, oldest first."""
        versions = [name[len(self._prefix):] for name in self._physical()]
        return [version for version in versions if self._manifest_or_none(version) is not None]

    @contextmanager
    def staging(self) -> Iterator[str]:
        """A new physical collection name to build into; the collection is dropped if the build raises."""
        name = self.target(f"v{time.time_ns():020d}_{os.getpid()}_{uuid.uuid4().hex[:6]}")  # sorts by start
        try:
            yield name
        except BaseException:
            if self.client.has_collection(name):
                self.client.drop_collection(name)
            raise

    def publish(self, staging: str, manifest: dict[str, Any]) -> str:
        """Seal a finished build with its manifest and point the alias at it."""
        version = staging[len(self._prefix):]
        self.client.alter_collection_properties(
            staging, properties={MANIFEST_PROPERTY: json.dumps({**manifest, "version": version})})
        if self.current_identity() is None:
            self.client.create_alias(collection_name=staging, alias=self.alias)
        else:
            self.client.alter_alias(collection_name=staging, alias=self.alias)
        self._collect_garbage(version)
        return version

    def _collect_garbage(self, live: str) -> None:
        """Keep the newest KEEP_VERSIONS finished versions (always the live one); a reader still on the previous
        version keeps working until the next publish."""
        for version in [v for v in self.list() if v != live][: -(KEEP_VERSIONS - 1) or None]:
            self.client.drop_collection(self.target(version))

    def remove_stale_staging(self, older_than_s: float = 3600) -> None:
        """Drop unfinished collections (no manifest) left by crashed builds."""
        cutoff = time.time() - older_than_s
        for name in self._physical():
            version = name[len(self._prefix):]
            started = int(version[1:21]) / 1e9 if version[1:21].isdigit() else 0
            if started < cutoff and self._manifest_or_none(version) is None:
                self.client.drop_collection(name)

    def drop_all(self) -> None:
        """Remove the alias and every version (the collection was deleted)."""
        if self.current_identity() is not None:
            self.client.drop_alias(alias=self.alias)
        for name in self._physical():
            self.client.drop_collection(name)
