"""Write aside, then switch: every publisher (indexes, models, conversions, checkpoints, markers) goes through here,
so a reader never finds an artefact missing or half-written and a crash leaves the previous one in place.

- ``written_aside(path)``: a file written beside ``path`` replaces it with ``os.replace`` (atomic on POSIX).
- ``staging_folder(parent)``: a fresh folder to build into, removed if the build raises.
- ``publish_folder(staging, target)``: ``target`` becomes a symbolic link to a versioned sibling folder; a new
  publish writes the new version beside the old one and replaces the link. The current and the previous version
  are kept, and an older one until it has been retired for ``RETIRED_GRACE_S`` (a reader that resolved the link
  just before two quick republishes still finds its files).
- ``publish_once(staging, target)``: for content-addressed targets (the same input always gives the same output):
  the first finished copy wins, a later one is discarded.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RETIRED_GRACE_S = 120.0  # how long a retired version outlives the publish after the one that retired it


@contextmanager
def written_aside(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block ends without an error
    (after an error it is removed and ``path`` is untouched)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """``path.write_text(text)`` that readers see whole or not at all."""
    with written_aside(path) as partial:
        partial.write_text(text)


@contextmanager
def staging_folder(parent: Path, prefix: str = "staging-") -> Iterator[Path]:
    """A fresh folder under ``parent`` to build into; removed if the block raises (a finished build moves it away
    with ``publish_folder``/``publish_once`` or ``os.replace``)."""
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish_folder(staging: Path, target: Path, grace_s: float | None = None) -> Path:
    """Move the complete folder ``staging`` into place as ``target`` in one atomic switch; returns ``target``.

    The version it replaces stays on disk (its mtime marks when it was retired); older versions are removed once
    retired for ``grace_s`` seconds, so a reader that resolved the link before any number of quick republishes
    still finds its files for that long."""
    tag = uuid.uuid4().hex[:12]
    version = target.with_name(f".{target.name}.v-{tag}")
    staging.rename(version)
    previous = target.resolve() if target.is_symlink() else None
    if target.exists() and not target.is_symlink():  # a plain folder from an older publish
        previous = target.with_name(f".{target.name}.v-retired-{tag}")
        target.rename(previous)
    link = target.with_name(f".{target.name}.link-{tag}")
    os.symlink(version.name, link)
    os.replace(link, target)
    if previous is not None and previous.exists():
        os.utime(previous)  # retired now
    grace_s = RETIRED_GRACE_S if grace_s is None else grace_s
    for old in target.parent.glob(f".{target.name}.v-*"):
        if old not in (version, previous) and time.time() - old.stat().st_mtime >= grace_s:
            shutil.rmtree(old, ignore_errors=True)
    return target


def publish_once(staging: Path, target: Path) -> Path:
    """Move ``staging`` (a file or folder) to ``target`` unless another process got there first, in which case
    ``staging`` is discarded; returns ``target``."""
    try:
        os.replace(staging, target)
    except OSError:  # a non-empty folder is already there: someone else published the same content
        if not target.exists():
            raise
    finally:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
    return target
