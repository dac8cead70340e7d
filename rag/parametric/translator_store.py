"""Where trained DyPRAG translators live: ``<data_dir>/models/dyprag/<name>`` (what ``siftrag train dyprag``
writes), the shipped ``models/dyprag/<name>``, or (the CLI's) a folder given by path."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.errors import NotFoundError
from core.settings import get_settings
from core.trained_models import trained_folder
from rag.parametric.translator import CONFIG_FILE, ParameterTranslator

DEFAULT_TRANSLATOR = "dyprag"
KIND = "dyprag"


def translator_dir(name: str) -> Path:
    return get_settings().data_dir / "models" / KIND / name


def resolve_translator(name_or_path: str | None) -> Path:
    """The folder of a translator name (trained into the data dir, or shipped) or, from the CLI, a folder path;
    a NotFoundError that names no server path."""
    name = name_or_path or DEFAULT_TRANSLATOR
    folder = trained_folder(KIND, name, CONFIG_FILE)
    if folder is None:
        raise NotFoundError(f"No trained DyPRAG translator '{name}': train one with `siftrag train dyprag --name "
                            f"{name}` (it is written to the data directory's models/{KIND}/).")
    return folder


@lru_cache(maxsize=4)
def _load(folder: Path, modified: float) -> ParameterTranslator:
    return ParameterTranslator.load(folder)


def load_translator(name_or_path: str | None) -> ParameterTranslator:
    """The translator for a name or folder, loaded once (reloaded when it is retrained)."""
    folder = resolve_translator(name_or_path)
    return _load(folder, (folder / CONFIG_FILE).stat().st_mtime)
