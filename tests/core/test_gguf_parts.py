"""Reassembling a model shipped in chunks: order, checksum, atomicity."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.errors import ModelUnavailableError
from core.model_registry import ModelSpec, assemble_parts


def _parts(tmp_path: Path) -> list[Path]:
    dirs = []
    for i, payload in enumerate([b"GGUF-first-", b"second-", b"third"], start=1):
        folder = tmp_path / f"part{i}" / "data"
        folder.mkdir(parents=True)
        (folder / f"part0{i}.bin").write_bytes(payload)
        dirs.append(folder.parent)
    return dirs


def test_parts_concatenate_in_order_and_verify(tmp_path: Path, data_dir: Path) -> None:
    expected = b"GGUF-first-second-third"
    spec = ModelSpec("toy", "gguf-causal-lm", None, "pip install toy", "toy-ok.gguf", None,
                     sha256=hashlib.sha256(expected).hexdigest())
    path = assemble_parts(spec, _parts(tmp_path))
    assert path.read_bytes() == expected
    assert path.parent == data_dir / "models"


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, data_dir: Path) -> None:
    spec = ModelSpec("toy", "gguf-causal-lm", None, "pip install toy", "toy-bad.gguf", None, sha256="0" * 64)
    with pytest.raises(ModelUnavailableError, match="pip install toy"):
        assemble_parts(spec, _parts(tmp_path))
    assert not (data_dir / "models" / "toy-bad.gguf").exists()
    assert not list((data_dir / "models").glob(".assembling-*"))
