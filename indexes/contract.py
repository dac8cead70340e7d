"""The contract every index kind implements: what a build receives and returns, what a loaded index answers."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

Hits = list[tuple[str, float]]
ProgressCallback = Callable[[int, int], None]


class LoadedIndex(Protocol):
    """A published index version held in memory."""

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        """Per query, (doc_id, score) pairs best first; only positive evidence is returned."""
        ...


@runtime_checkable
class FilteredIndex(Protocol):
    """A loaded index that narrows a search by a metadata expression itself (the Milvus kinds)."""

    def search_where(self, queries: Sequence[str], top_k: int, expression: str) -> list[Hits]:
        """``search`` among the documents whose indexed metadata satisfies ``expression``."""
        ...


@runtime_checkable
class ImpactIndex(Protocol):
    """A loaded ``tilde`` version (on any backend): it also scores given candidates, for reranking."""

    scorer_path: str
    expansion_top_k: int

    def score(self, query: str, doc_ids: Sequence[str]) -> np.ndarray:
        """TILDEv2 scores of the given passages (NaN for ids not in the index)."""
        ...


class IndexKind(Protocol):
    """Builds an index version into a folder and loads it back."""

    name: str

    def build(
        self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], out_dir: Path,
        progress: ProgressCallback | None, options: dict[str, Any],
    ) -> dict[str, Any]:
        """Write the index into ``out_dir`` (a folder; a Milvus collection name for the Milvus kinds); return
        manifest fields (parameters, sizes). ``metas``: the documents' metadata, which the Milvus kinds index for
        filtering (the local kinds filter after the search and do not read it)."""
        ...

    def load(self, version_dir: Path, manifest: dict[str, Any]) -> LoadedIndex:
        ...

    def model_for(self, options: dict[str, Any]) -> str | None:
        """The model a build with ``options`` would use (recorded as ``model`` in the manifest), if any."""
        ...
