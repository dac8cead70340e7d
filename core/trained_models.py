"""Where a trained artefact named in a request or on the command line is found: a folder path (with a '/', the
CLI's), else ``<data_dir>/models/<kind>/<name>`` (what training writes), then the shipped ``models/<kind>/<name>``.
A bare name must be a simple name, so it never leaves those folders."""
from __future__ import annotations

from pathlib import Path

from core.adapters import ADAPTER_NAME, SHIPPED_MODELS
from core.settings import get_settings


def trained_folder(kind: str, name: str, marker: str) -> Path | None:
    """The resolved folder of ``name`` that holds the file ``marker``, or None."""
    if "/" in name:
        candidates = [Path(name).expanduser()]
    elif ADAPTER_NAME.fullmatch(name):
        candidates = [get_settings().data_dir / "models" / kind / name, SHIPPED_MODELS / kind / name]
    else:
        candidates = []
    return next((folder.resolve() for folder in candidates if (folder / marker).exists()), None)
