"""Server paths out of what a caller reads (error details, job errors): the data dir becomes ``<data_dir>``, the
installation ``<siftrag>``, any other absolute path ``<path>``; API routes (``/v1/…``) and URLs stay."""
from __future__ import annotations

import re
from pathlib import Path

from core.adapters import SHIPPED_MODELS
from core.settings import get_settings

_ABSOLUTE = re.compile(r"(?<![\w.:/<>~-])/(?!v\d+/)[\w.@+-]+(?:/[\w.@+-]*)+")


def without_server_paths(message: str) -> str:
    """``message`` with its server paths in a neutral form."""
    data_dir = Path(get_settings().data_dir)
    roots = {str(data_dir.resolve()): "<data_dir>", str(data_dir.absolute()): "<data_dir>",
             str(SHIPPED_MODELS.parent): "<siftrag>"}
    for root in sorted(roots, key=len, reverse=True):
        message = message.replace(root, roots[root])
    return _ABSOLUTE.sub("<path>", message)
