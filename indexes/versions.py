"""Versioned on-disk layout of one index kind, with atomic publish.

    <kind_dir>/versions/<version>/   finished builds (manifest.json written last)
    <kind_dir>/staging-<random>/      a build in progress; never read
    <kind_dir>/CURRENT               the live version's name, replaced atomically

A build writes into a staging folder, renames it into ``versions/`` and then swaps ``CURRENT``
with ``os.replace``. A crash at any point leaves the previous ``CURRENT`` untouched.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from core.atomic_publish import staging_folder, write_text_atomic

MANIFEST = "manifest.json"
KEEP_VERSIONS = 2


def file_identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime) of ``path``, None when it is missing: a file replaced by ``os.replace`` gets another."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class IndexVersions:
    """The versions of one index kind of one collection."""

    def __init__(self, kind_dir: Path) -> None:
        self.kind_dir = kind_dir
        self.versions_dir = kind_dir / "versions"

    def current(self) -> str | None:
        """The live version name, or None when nothing was ever published."""
        try:
            name = (self.kind_dir / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return None
        return name if (self.versions_dir / name / MANIFEST).exists() else None

    def current_identity(self) -> tuple[int, int] | None:
        """``file_identity`` of ``CURRENT`` (a publish replaces the file, so a new version has a new identity): one
        ``stat`` tells a reader that the version it read before is still live."""
        return file_identity(self.kind_dir / "CURRENT")

    def path(self, version: str) -> Path:
        return self.versions_dir / version

    def target(self, version: str) -> Path:
        """What the index kind builds into and loads from: the version's folder."""
        return self.path(version)

    def manifest(self, version: str) -> dict[str, Any]:
        return json.loads((self.path(version) / MANIFEST).read_text())

    def list(self) -> list[str]:
        if not self.versions_dir.exists():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if (p / MANIFEST).exists())

    def staging(self) -> AbstractContextManager[Path]:
        """A fresh staging folder, removed if the build inside raises."""
        return staging_folder(self.kind_dir)

    def publish(self, staging: Path, manifest: dict[str, Any]) -> str:
        """Seal a finished staging folder as a new version and make it live atomically."""
        now = time.time_ns()  # to the nanosecond, so names sort by publish time even within one second
        version = time.strftime("v%Y%m%dT%H%M%S", time.localtime(now // 10**9)) + f"{now % 10**9:09d}-{os.getpid()}-" \
            f"{staging.name[-6:]}"
        (staging / MANIFEST).write_text(json.dumps({**manifest, "version": version}, indent=2))
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        os.replace(staging, self.path(version))
        write_text_atomic(self.kind_dir / "CURRENT", version)
        self._collect_garbage(version)
        return version

    def _collect_garbage(self, live: str) -> None:
        """Keep the newest KEEP_VERSIONS versions (always the live one)."""
        old = [v for v in self.list() if v != live][: -(KEEP_VERSIONS - 1) or None]
        for version in old:
            shutil.rmtree(self.path(version), ignore_errors=True)

    def remove_stale_staging(self, older_than_s: float = 3600) -> None:
        """Delete staging folders left by crashed builds."""
        if not self.kind_dir.exists():
            return
        cutoff = time.time() - older_than_s
        for path in self.kind_dir.glob("staging-*"):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)

