"""LoRA adapters trained by siftrag on a registry LLM: names, folders, and the base each one belongs to.

A model name may be ``BASE+ADAPTER`` or an adapter name alone (its ``training.json`` records the base). An
adapter name is looked up as a folder path, then under ``<data_dir>/models/<kind>/`` (what training writes),
then under the shipped ``models/<kind>/``, for each adapter kind (rerankers, readers).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import InvalidInputError, NotFoundError
from core.settings import get_settings

SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models"
ADAPTER_KINDS = ("rerankers", "readers")
TRAINING_FILE = "training.json"
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class Adapter:
    name: str
    folder: Path
    training: dict[str, Any]

    @property
    def base(self) -> str:
        return str(self.training["base_model"])


def adapter_dir(kind: str, name: str) -> Path:
    """Where training publishes the adapter ``name`` of ``kind``."""
    return get_settings().data_dir / "models" / kind / name


def find_adapter(name: str) -> Adapter | None:
    """The adapter called ``name`` (or at that path), or None when there is none."""
    candidates = [Path(name).expanduser()] if "/" in name else []
    for kind in ADAPTER_KINDS:
        candidates += [adapter_dir(kind, name), SHIPPED_MODELS / kind / name]
    for folder in candidates:
        if (folder / ADAPTER_CONFIG).exists() and (folder / TRAINING_FILE).exists():
            return _read(folder.resolve(), (folder / TRAINING_FILE).stat().st_mtime)
    return None


@lru_cache(maxsize=64)
def _read(folder: Path, modified: float) -> Adapter:
    return Adapter(folder.name, folder, json.loads((folder / TRAINING_FILE).read_text()))


def split_model_name(name: str) -> tuple[str, Adapter | None]:
    """(base model name, adapter or None) for ``BASE``, ``BASE+ADAPTER`` or ``ADAPTER``."""
    if "+" in name:
        base, _, adapter_name = name.partition("+")
        adapter = find_adapter(adapter_name)
        if adapter is None:
            raise NotFoundError(f"No adapter '{adapter_name}': train one with `siftrag train reranker`.")
        if adapter.base != base:
            raise InvalidInputError(
                f"Adapter '{adapter_name}' was trained on '{adapter.base}', not on '{base}': use "
                f"'{adapter.base}+{adapter_name}'.")
        return base, adapter
    adapter = None if "/" in name and not Path(name).expanduser().is_dir() else find_adapter(name)
    return (adapter.base, adapter) if adapter is not None else (name, None)


def shipped_adapters(kind: str) -> list[Adapter]:
    """The adapters of ``kind`` that ship with the project, by name."""
    root = SHIPPED_MODELS / kind
    folders = sorted(p for p in root.iterdir() if (p / TRAINING_FILE).exists()) if root.is_dir() else []
    return [_read(p.resolve(), (p / TRAINING_FILE).stat().st_mtime) for p in folders]
