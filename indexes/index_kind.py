"""The contract every index kind implements, and the registry of kinds."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from core.errors import NotFoundError
from indexes.versions import ProgressCallback

Hits = list[tuple[str, float]]


class LoadedIndex(Protocol):
    """A published index version held in memory."""

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        """Per query, (doc_id, score) pairs best first; only positive evidence is returned."""
        ...


class IndexKind(Protocol):
    """Builds an index version into a folder and loads it back."""

    name: str

    def build(
        self, ids: Sequence[str], texts: Sequence[str], out_dir: Path, progress: ProgressCallback | None,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """Write the index into ``out_dir``; return manifest fields (parameters, sizes)."""
        ...

    def load(self, version_dir: Path, manifest: dict[str, Any]) -> LoadedIndex:
        ...

    def model_for(self, options: dict[str, Any]) -> str | None:
        """The model a build with ``options`` would use (recorded as ``model`` in the manifest), if any."""
        ...


def check_kind(name: str) -> None:
    """NotFoundError for an unknown kind (without importing any kind's dependencies)."""
    if name not in KIND_NAMES:
        raise NotFoundError(f"Unknown index kind '{name}': choose one of {', '.join(KIND_NAMES)}.")


def index_kind(name: str) -> IndexKind:
    """The kind named ``name``; NotFoundError for an unknown kind. Imports only that kind's dependencies."""
    check_kind(name)
    if name == "bm25":
        from indexes.bm25_index import Bm25Kind

        return Bm25Kind()
    if name == "dense":
        from indexes.dense_index import DenseKind

        return DenseKind()
    if name == "tilde":
        from indexes.tilde_index import TildeKind

        return TildeKind()
    raise AssertionError(f"index kind '{name}' is listed in KIND_NAMES but has no implementation")


KIND_NAMES = ("bm25", "dense", "tilde")
