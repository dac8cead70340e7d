"""The files a command line names: files, folders (recursively, hidden entries skipped) and glob patterns."""
from __future__ import annotations

import glob
from pathlib import Path

GLOB_CHARS = set("*?[")


def expand_paths(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """(the files, in the order given and sorted within a folder or pattern; a sentence per pattern that matched
    nothing). A file reached twice is listed once."""
    found: dict[Path, None] = {}
    unmatched = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() and not hidden(p.relative_to(path)))
        elif GLOB_CHARS & set(pattern):
            candidates = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        else:
            candidates = []
        if not candidates:
            unmatched.append(f"{pattern}: no such file or folder, or nothing matches.")
        found.update(dict.fromkeys(candidates))
    return list(found), unmatched


def hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
