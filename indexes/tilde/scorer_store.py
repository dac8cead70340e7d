"""Where trained TILDEv2 scorers live: a folder given by path, ``<data_dir>/models/tilde/<name>`` (what
``siftrag train tilde`` writes), or ``models/tilde/<name>`` shipped with the project."""
from __future__ import annotations

from pathlib import Path

from core.errors import ModelUnavailableError, NotFoundError
from core.settings import get_settings
from indexes.tilde.scorer import CONFIG_FILE

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "tilde"


def scorer_dir(name: str) -> Path:
    return get_settings().data_dir / "models" / "tilde" / name


def resolve_scorer(name_or_path: str | None) -> Path:
    """A trained scorer folder for a name (default: settings ``tilde_model``) or a path. A scorer the caller named
    that does not exist is a NotFoundError (404: the request's mistake); the default one missing is a
    ModelUnavailableError (503: the server's)."""
    name = name_or_path or get_settings().tilde_model
    for candidate in (Path(name).expanduser(), scorer_dir(name), SHIPPED / name):
        if (candidate / CONFIG_FILE).exists():
            return candidate.resolve()
    error = NotFoundError if name_or_path else ModelUnavailableError
    raise error(f"No trained TILDEv2 scorer '{name}': train one with `siftrag train tilde --name {name}` "
                f"(it is written to {scorer_dir(name)}).")
