"""The registry of index kinds: a name → its implementation of ``indexes.contract.IndexKind``."""
from __future__ import annotations

from core.errors import NotFoundError
from core.settings import get_settings
from indexes.contract import IndexKind

KIND_NAMES = ("bm25", "dense", "tilde")


def check_kind(name: str) -> None:
    """NotFoundError for an unknown kind (without importing any kind's dependencies)."""
    if name not in KIND_NAMES:
        raise NotFoundError(f"Unknown index kind '{name}': choose one of {', '.join(KIND_NAMES)}.")


def index_kind(name: str) -> IndexKind:
    """The kind named ``name`` on the configured backend (``SIFTRAG_INDEX_BACKEND``); NotFoundError for an unknown
    kind. Imports only that kind's dependencies."""
    check_kind(name)
    if get_settings().index_backend == "milvus":
        return _milvus_kind(name)
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


def _milvus_kind(name: str) -> IndexKind:
    if name == "bm25":
        from indexes.milvus_bm25 import MilvusBm25Kind

        return MilvusBm25Kind()
    if name == "dense":
        from indexes.milvus_dense import MilvusDenseKind

        return MilvusDenseKind()
    if name == "tilde":
        from indexes.milvus_tilde import MilvusTildeKind

        return MilvusTildeKind()
    raise AssertionError(f"index kind '{name}' is listed in KIND_NAMES but has no Milvus implementation")
