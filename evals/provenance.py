"""What produced a result: the code revision, and the index versions and model weights a pipeline used."""
from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.adapters import split_model_name
from core.errors import SiftragError
from core.model_registry import resolve_model
from core.settings import get_settings
from evals.pipelines import parse_pipeline, pipeline_options, required_kinds
from indexes.collection import Collection
from rerankers.cross_encoder_models import cross_encoder_dir, default_cross_encoder
from rerankers.registry import LLM_METHODS, trained_defaults

REPOSITORY = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def code_revision() -> str:
    """``git describe``-like: the commit, with ``-dirty`` when the work tree has changes; else the version."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPOSITORY, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPOSITORY,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"siftrag-{version('siftrag')}"
        except PackageNotFoundError:
            return "unknown"


def weights_hash(path: Path) -> str:
    """sha256 (first 16 hex digits) over a weight file, or over a folder's files and their relative names."""
    return _weights_hash(str(path.resolve()), *_stamp(path))


def _stamp(path: Path) -> tuple[int, int]:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files), max((f.stat().st_mtime_ns for f in files), default=0)


@lru_cache(maxsize=32)
def _weights_hash(path: str, size: int, mtime_ns: int) -> str:
    root = Path(path)
    digest = hashlib.sha256()
    for file in [root] if root.is_file() else sorted(f for f in root.rglob("*") if f.is_file()):
        digest.update(str(file.relative_to(root) if file != root else file.name).encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def model_fingerprint(name: str) -> str:
    """``name sha256:…`` of the weights a model name resolves to (or the hub id it would load); for
    ``BASE+ADAPTER``, the base's and the adapter's."""
    try:
        base, adapter = split_model_name(name)
        if adapter is not None:
            adapter_hash = weights_hash(adapter.folder / "adapter_model.safetensors")
            return f"{model_fingerprint(base)} + adapter {adapter.name} sha256:{adapter_hash}"
        resolved = resolve_model(name)
    except SiftragError as error:
        return f"{name} (unresolved: {error})"
    if resolved.local_path is None:
        return f"{name} (hub {resolved.hf_id})"
    return f"{name} sha256:{weights_hash(resolved.local_path)}"


def pipeline_provenance(pipeline: str, collection: Collection, rerank_options: dict[str, Any]) -> dict[str, Any]:
    """The live index version (and its model, hashed) of every kind the pipeline reads, and the reranker's model."""
    indexes = {}
    for kind in required_kinds(pipeline):
        versions = collection.versions(kind)
        live = versions.current()
        manifest = versions.manifest(live) if live else {}
        entry: dict[str, Any] = {"version": live}
        model = manifest.get("model")
        if model:
            path = Path(model)
            entry["model"] = f"{model} sha256:{weights_hash(path)}" if path.exists() else model_fingerprint(model)
        indexes[kind] = entry
    provenance: dict[str, Any] = {"indexes": indexes}
    _, method = parse_pipeline(pipeline)
    rerank_options = pipeline_options(pipeline, rerank_options)
    if method in LLM_METHODS:
        provenance["reranker_model"] = model_fingerprint(trained_defaults(method, rerank_options.get("model"))[0])
    elif method == "embedding":
        provenance["reranker_model"] = model_fingerprint(rerank_options.get("model") or get_settings().embedding_model)
    elif method == "cross-encoder":
        name = rerank_options.get("model") or default_cross_encoder()
        provenance["reranker_model"] = f"{name} sha256:{weights_hash(cross_encoder_dir(name))}"
    return provenance
