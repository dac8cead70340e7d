"""Trained cross-encoder folders by name: ``<data_dir>/models/rerankers/<name>`` (what training writes), then the
shipped ``models/rerankers/<name>``; a folder is a cross-encoder when its ``training.json`` says so."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.adapters import ADAPTER_NAME, SHIPPED_MODELS, TRAINING_FILE, adapter_dir
from core.errors import InvalidInputError, ModelUnavailableError, NotFoundError
from core.settings import get_settings

CROSS_ENCODER_KIND = "cross-encoder"  # ``kind`` in the training.json of a cross-encoder folder


def training_record(folder: Path) -> dict[str, Any] | None:
    """The ``training.json`` of a cross-encoder folder, or None when ``folder`` is not one."""
    path = folder / TRAINING_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("kind") == CROSS_ENCODER_KIND else None


def _cross_encoders_in(root: Path) -> list[str]:
    """The cross-encoders under ``root`` by name (not the versioned folders a publish keeps beside them, whose
    names start with a dot)."""
    return sorted(p.name for p in root.iterdir()
                  if ADAPTER_NAME.fullmatch(p.name) and training_record(p)) if root.is_dir() else []


def shipped_cross_encoders() -> list[str]:
    """Names of the cross-encoders that ship with the project, sorted."""
    return _cross_encoders_in(SHIPPED_MODELS / "rerankers")


def default_cross_encoder() -> str:
    """The first shipped cross-encoder, else the first trained into the data dir; ModelUnavailableError when there
    is none."""
    names = shipped_cross_encoders() or _cross_encoders_in(get_settings().data_dir / "models" / "rerankers")
    if not names:
        raise ModelUnavailableError("No cross-encoder is installed: train one with `siftrag train cross-encoder "
                                    "--name NAME` (none ships yet: see docs/rerankers.md).")
    return names[0]


def any_cross_encoder() -> bool:
    """Whether ``rerank=cross-encoder`` can run with no model named."""
    try:
        return bool(default_cross_encoder())
    except ModelUnavailableError:
        return False


def cross_encoder_dir(name: str) -> Path:
    """The folder of the cross-encoder ``name`` (trained into the data dir first, then shipped)."""
    if not ADAPTER_NAME.fullmatch(name):
        raise InvalidInputError(f"'{name}' is not a cross-encoder name (letters, digits, '.', '_', '-').")
    for folder in (adapter_dir("rerankers", name), SHIPPED_MODELS / "rerankers" / name):
        if training_record(folder) is not None:
            return folder.resolve()
    raise NotFoundError(f"No cross-encoder '{name}': train one with `siftrag train cross-encoder --name {name}`.")
