"""Classes named ``"package.module:ClassName"``: the method tables name their components this way, so
reading a table imports no implementation (nor its torch, FAISS, …)."""
from __future__ import annotations

from importlib import import_module


def import_class(path: str) -> type:
    """The class at ``"package.module:ClassName"``; its module is imported now."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)
