"""Models tuned for one collection (``siftrag tune``): ``collections/<name>/models/<kind>/`` in the index versions'
layout (``versions/<version>/`` with the model folder and ``manifest.json``, an atomically replaced ``CURRENT``).
A tuned ``dense`` model is the sentence encoder of the collection's dense index and of the ``embedding`` reranker
on it. Training runs in a ``work-<hash>`` folder keyed by its data and settings, so an interrupted job resumes."""
from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexes.versions import IndexVersions

TUNED_KINDS = ("dense",)


class CollectionModels:
    """The tuned models of the collection whose folder is ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root / "models"

    def versions(self, kind: str) -> IndexVersions:
        return IndexVersions(self.root / kind)

    def work_dir(self, kind: str, key: str) -> Path:
        """Where a training run keyed by ``key`` (a content hash) writes its model and checkpoints."""
        return self.root / kind / f"work-{key}"

    def live_path(self, kind: str) -> Path | None:
        """The live tuned model's folder, or None (the collection uses the shipped default)."""
        versions = self.versions(kind)
        version = versions.current()
        return versions.path(version) / versions.manifest(version)["model_folder"] if version else None

    def publish(self, kind: str, model: Path, manifest: dict[str, Any], extra_files: Sequence[Path] = ()) -> str:
        """Move the trained folder ``model`` (and ``extra_files``, e.g. the training queries) into a new version and
        make it live; its version name."""
        versions = self.versions(kind)
        with versions.staging() as staging:
            for path in (model, *extra_files):
                os.rename(path, staging / path.name)
            version = versions.publish(staging, {**manifest, "model_folder": model.name})
        if model.parent.name.startswith("work-"):
            shutil.rmtree(model.parent, ignore_errors=True)  # its checkpoints
        return version

    def revert(self, kind: str) -> str | None:
        """Make the shipped default live again (the tuned versions stay on disk); the version that was live."""
        versions = self.versions(kind)
        live = versions.current()
        (versions.kind_dir / "CURRENT").unlink(missing_ok=True)
        return live

    def describe(self) -> dict[str, Any]:
        """Per kind: the live version, the versions kept and the live one's training record (None when the shipped
        default serves); no server paths."""
        described: dict[str, Any] = {}
        for kind in TUNED_KINDS:
            versions = self.versions(kind)
            version = versions.current()
            manifest = versions.manifest(version) if version else None
            described[kind] = {"live_version": version, "versions": versions.list(),
                               "training": manifest.get("training") if manifest else None}
        return described
