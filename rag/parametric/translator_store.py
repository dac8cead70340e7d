"""Where trained DyPRAG translators live: a folder given by path, or ``<data_dir>/models/dyprag/<name>``
(what ``siftrag train dyprag`` writes)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.errors import NotFoundError
from core.settings import get_settings
from rag.parametric.translator import CONFIG_FILE, ParameterTranslator

DEFAULT_TRANSLATOR = "dyprag"


def translator_dir(name: str) -> Path:
    return get_settings().data_dir / "models" / "dyprag" / name


def resolve_translator(name_or_path: str | None) -> Path:
    name = name_or_path or DEFAULT_TRANSLATOR
    for candidate in (Path(name).expanduser(), translator_dir(name)):
        if (candidate / CONFIG_FILE).exists():
            return candidate.resolve()
    raise NotFoundError(
        f"No trained DyPRAG translator '{name}': train one with `siftrag train dyprag --name {name}` "
        f"(it is written to {translator_dir(name)})."
    )


@lru_cache(maxsize=4)
def _load(folder: Path, modified: float) -> ParameterTranslator:
    return ParameterTranslator.load(folder)


def load_translator(name_or_path: str | None) -> ParameterTranslator:
    """The translator for a name or folder, loaded once (reloaded when it is retrained)."""
    folder = resolve_translator(name_or_path)
    return _load(folder, (folder / CONFIG_FILE).stat().st_mtime)
