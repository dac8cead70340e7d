"""Device choice, made once: CUDA when present unless settings say otherwise."""
from __future__ import annotations

from functools import lru_cache

from core.settings import get_settings


@lru_cache(maxsize=1)
def torch_device() -> str:
    """``cuda`` when available (or requested), else ``cpu``."""
    wanted = get_settings().device
    if wanted != "auto":
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
