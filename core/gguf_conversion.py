"""One-time conversion of a GGUF checkpoint into a plain Hugging Face folder that loads in < 1 s."""
from __future__ import annotations

import hashlib
from pathlib import Path

from core.atomic_publish import publish_once, staging_folder
from core.quiet_loading import quiet_transformers


def _cache_key(gguf_path: Path) -> str:
    stat = gguf_path.stat()
    raw = f"{gguf_path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()
    return f"{gguf_path.stem}-{hashlib.sha256(raw).hexdigest()[:12]}"


def converted_model_dir(gguf_path: Path, cache_root: Path) -> Path:
    """Return a folder with the dequantized model and tokenizer, converting on first use.

    The conversion is written to a temporary folder and renamed into place, so a crash never
    leaves a half-written model that a later load would trust.
    """
    target = cache_root / _cache_key(gguf_path)
    if (target / "config.json").exists():
        return target
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cache_root.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        config = AutoConfig.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config)
        fresh.load_state_dict(model.state_dict(), strict=False)
        if getattr(config, "tie_word_embeddings", False):
            fresh.tie_weights()
        with staging_folder(cache_root, ".converting-") as staging:
            fresh.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
    return publish_once(staging, target)
