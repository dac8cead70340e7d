"""Loading registry models: sentence embedders, causal LMs (GGUF via the converted cache), masked LMs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.adapters import split_model_name
from core.device import torch_device
from core.errors import InvalidInputError, ModelUnavailableError, SiftragError
from core.gguf_conversion import converted_model_dir
from core.model_registry import resolve_model
from core.quiet_loading import quiet_transformers
from core.settings import get_settings


def _load_error(name: str, source: str, error: Exception) -> SiftragError:
    """A hub model that could not be fetched (OSError: 503), or a folder that holds no such model (ValueError:
    422, e.g. an allowed path to a folder without a config)."""
    if isinstance(error, OSError):
        return ModelUnavailableError(
            f"Model '{name}' is not bundled here and the hub id '{source}' could not be loaded ({error}).")
    first_line = next(iter(str(error).splitlines()), type(error).__name__)
    return InvalidInputError(f"Model '{name}' is not a model that can be loaded here ({first_line.rstrip(': ')}).")


def load_sentence_embedder(name: str) -> Any:
    """A ``SentenceTransformer`` on the chosen device."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_model(name)
    source = str(resolved.local_path) if resolved.is_local else resolved.hf_id
    try:
        with quiet_transformers():
            # fp32 whatever the file stores (trained encoders ship fp16 weights, slow or unsupported on CPUs)
            return SentenceTransformer(source, device=torch_device(), model_kwargs={"dtype": "float32"})
    except (OSError, ValueError) as error:
        raise _load_error(name, str(source), error) from error


def causal_lm_dir(name: str, cache_root: Path | None = None) -> str:
    """A folder (or hub id) that ``from_pretrained`` loads fast: GGUF files are converted once."""
    resolved = resolve_model(name)
    if resolved.local_path is None:
        return str(resolved.hf_id)
    if resolved.local_path.suffix == ".gguf":
        root = cache_root or get_settings().data_dir / "models"
        return str(converted_model_dir(resolved.local_path, root))
    return str(resolved.local_path)


def load_causal_lm(name: str, attn_implementation: str = "eager") -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode; bf16 on CUDA, fp32 on CPU. Eager attention by default,
    because attention weights are only returned by the eager kernel. ``BASE+ADAPTER`` (or an adapter name
    alone) loads the base and merges the trained LoRA adapter into its weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base, adapter = split_model_name(name)
    source = causal_lm_dir(base)
    device = torch_device()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, attn_implementation=attn_implementation
            )
    except (OSError, ValueError) as error:
        raise _load_error(name, source, error) from error
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter.folder)).merge_and_unload()
    return model.to(device).eval(), tokenizer
