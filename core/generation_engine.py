"""Which engine generates a model's text: llama.cpp for a GGUF model (and the LoRA adapters trained on it) on the
CPU, else transformers (``SIFTRAG_LLM_ENGINE``: ``auto``, ``transformers`` or ``llama.cpp``, which refuses to
load a model it cannot run). Only generation moves: scoring, attention and hidden states stay on transformers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.adapters import split_model_name
from core.device import torch_device
from core.errors import InvalidInputError, ModelUnavailableError
from core.gguf_merge import merged_gguf
from core.llama_cpp_decoder import LlamaCppDecoder, llama_cpp_installed
from core.model_registry import resolve_model
from core.settings import get_settings

LLAMA_CPP = "llama.cpp"
CONTEXT_TOKENS = 4096  # llama.cpp's KV cache (~95 MB for SmolLM2-135M); longer prompts generate on transformers


def _local_gguf(base: str) -> Path | str:
    """The base model's local GGUF file, or why llama.cpp cannot generate with it."""
    if torch_device() != "cpu":
        return "on a GPU, transformers generates"
    if not llama_cpp_installed():
        return "llama-cpp-python is not installed (`pip install 'siftrag[llamacpp]'`)"
    path = resolve_model(base).local_path
    if path is None or path.suffix != ".gguf":
        return f"'{base}' is not a local GGUF model"
    return path


def llama_cpp_decoder(model_name: str, config: Any, context_length: int, threads: int,
                      engine: str) -> LlamaCppDecoder | None:
    """The llama.cpp decoder that generates for ``model_name`` under the ``engine`` setting (its GGUF with the
    adapter merged, in Q8_0, converted once into the data dir), or None when transformers does."""
    if engine == "transformers":
        return None
    base, adapter = split_model_name(model_name)
    found = _local_gguf(base)
    if isinstance(found, Path):
        try:
            gguf_path = merged_gguf(found, adapter, config, get_settings().data_dir / "models" / "llama-cpp")
        except InvalidInputError as error:
            found = str(error)
        else:
            return LlamaCppDecoder(gguf_path, min(context_length, CONTEXT_TOKENS), threads,
                                   get_settings().llm_amx_decoding)
    if engine == LLAMA_CPP:
        raise ModelUnavailableError(f"SIFTRAG_LLM_ENGINE=llama.cpp cannot generate with '{model_name}': {found}.")
    return None
