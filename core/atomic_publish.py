"""Publishing a finished folder so that readers never see it missing or half-written.

``target`` becomes a symbolic link to a versioned sibling folder; a new publish writes the new version beside
the old one and replaces the link with ``os.replace`` (atomic on POSIX), then removes the old version.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def publish_folder(staging: Path, target: Path) -> Path:
    """Move the complete folder ``staging`` into place as ``target`` in one atomic switch; returns ``target``."""
    tag = uuid.uuid4().hex[:12]
    version = target.with_name(f".{target.name}.v-{tag}")
    staging.rename(version)
    previous = target.resolve() if target.is_symlink() else None
    if target.exists() and not target.is_symlink():  # a plain folder from an older publish
        retired = target.with_name(f".{target.name}.retired-{tag}")
        target.rename(retired)
        previous = retired
    link = target.with_name(f".{target.name}.link-{tag}")
    os.symlink(version.name, link)
    os.replace(link, target)
    if previous is not None and previous != version.resolve():
        shutil.rmtree(previous, ignore_errors=True)
    return target
