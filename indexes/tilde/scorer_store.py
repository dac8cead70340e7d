"""Where trained TILDEv2 scorers live: a folder given by path, ``<data_dir>/models/tilde/<name>`` (what
``siftrag train tilde`` writes), or ``models/tilde/<name>`` shipped with the project."""
from __future__ import annotations

from pathlib import Path

from core.adapters import SHIPPED_MODELS
from core.errors import ModelUnavailableError, NotFoundError
from core.settings import get_settings
from core.trained_models import trained_folder
from indexes.tilde.scorer import CONFIG_FILE

KIND = "tilde"
SHIPPED = SHIPPED_MODELS / KIND


def scorer_dir(name: str) -> Path:
    return get_settings().data_dir / "models" / KIND / name


def find_scorer(name: str) -> Path | None:
    """The trained or shipped scorer called ``name`` (or at that path), or None."""
    return trained_folder(KIND, name, CONFIG_FILE)


def resolve_scorer(name_or_path: str | None) -> Path:
    """A trained scorer folder for a name (default: settings ``tilde_model``) or a path. A scorer the caller named
    that does not exist is a NotFoundError (404: the request's mistake); the default one missing is a
    ModelUnavailableError (503: the server's). Neither message names a server path."""
    name = name_or_path or get_settings().tilde_model
    folder = find_scorer(name)
    if folder is not None:
        return folder
    error = NotFoundError if name_or_path else ModelUnavailableError
    raise error(f"No trained TILDEv2 scorer '{name}': train one with `siftrag train tilde --name {name}` "
                f"(it is written to the data directory's models/{KIND}/).")
