"""A GGUF model for llama.cpp with a trained LoRA adapter merged into its weights, in Q8_0, written once and cached
by content.

Every linear weight is de-quantized (gguf-py), the adapter's delta added (scale · B·A, as PEFT's
``merge_and_unload`` does for the transformers path) and quantized to Q8_0; tensors that are Q8_0 already or
F32 (norms) are copied. Q8_0 rather than the shipped Q4_1: llama.cpp reads a 460-token prompt in 0.84 s instead of
1.6 s on 2 cores (decoding: 14.5 vs 11.7 ms a token), and a merged adapter costs nothing per token (as a separate
LoRA it costs about 15 %). Names map through gguf-py's own table of Hugging Face names; the one layout change is
llama.cpp's: a Llama-family GGUF stores the query and key rows with their rotary halves interleaved (what
``convert_hf_to_gguf.py`` does to the base weights), so the delta of ``q_proj``/``k_proj`` is permuted likewise.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from core.adapters import Adapter
from core.atomic_publish import written_aside
from core.errors import InvalidInputError

GGUF_ARCHITECTURES = {"LlamaForCausalLM": "LLAMA"}  # the HF classes whose adapters merge here
CONVERSION_VERSION = "1"  # part of the cache key: a change of this module's output makes new files


def _cache_name(base_gguf: Path, adapter: Adapter | None) -> str:
    digest = hashlib.sha256(CONVERSION_VERSION.encode())
    stat = base_gguf.stat()
    digest.update(f"{base_gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    if adapter is not None:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            digest.update((adapter.folder / name).read_bytes())
    label = base_gguf.stem + (f"+{adapter.name}" if adapter else "")
    return f"{label}-{digest.hexdigest()[:16]}.q8_0.gguf"


def _rotary_interleaved(rows: np.ndarray, heads: int) -> np.ndarray:
    """The rows of a q/k projection in llama.cpp's order: per head, the two rotary halves interleaved."""
    return (rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:])
            .swapaxes(1, 2).reshape(rows.shape))


def adapter_deltas(adapter: Adapter, base_config: Any) -> dict[str, np.ndarray]:
    """GGUF tensor name → the adapter's delta (out × in, float32) in llama.cpp's row order."""
    import gguf
    from safetensors.numpy import load_file

    architecture = next((GGUF_ARCHITECTURES[a] for a in getattr(base_config, "architectures", None) or []
                         if a in GGUF_ARCHITECTURES), None)
    if architecture is None:
        raise InvalidInputError(f"Adapter '{adapter.name}': llama.cpp merging supports "
                                f"{', '.join(GGUF_ARCHITECTURES)} bases only.")
    settings = json.loads((adapter.folder / "adapter_config.json").read_text())
    if any(settings.get(k) for k in ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern")):
        raise InvalidInputError(f"Adapter '{adapter.name}': only plain LoRA merges for llama.cpp.")
    scale = float(settings["lora_alpha"]) / float(settings["r"])
    heads = {"q_proj": int(base_config.num_attention_heads),
             "k_proj": int(getattr(base_config, "num_key_value_heads", None) or base_config.num_attention_heads)}
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, architecture), int(base_config.num_hidden_layers))
    tensors = load_file(str(adapter.folder / "adapter_model.safetensors"))
    deltas: dict[str, np.ndarray] = {}
    for key in sorted(k for k in tensors if ".lora_A." in k):
        module = key.split(".lora_A.")[0].removeprefix("base_model.model.")
        gguf_name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise InvalidInputError(f"Adapter '{adapter.name}': no llama.cpp tensor for {module}.")
        lora_b = tensors[key.replace(".lora_A.", ".lora_B.")].astype(np.float32)
        delta = scale * (lora_b @ tensors[key].astype(np.float32))
        projection = module.rsplit(".", 1)[-1]
        deltas[gguf_name] = _rotary_interleaved(delta, heads[projection]) if projection in heads else delta
    return deltas


def merged_gguf(base_gguf: Path, adapter: Adapter | None, base_config: Any, cache_root: Path) -> Path:
    """``<cache_root>/<model>[+<adapter>]-<hash>.q8_0.gguf``: the base with ``adapter`` merged, in Q8_0; converted
    on first use and written aside, so a crash leaves no half file."""
    target = cache_root / _cache_name(base_gguf, adapter)
    if target.exists():
        return target
    import gguf
    from gguf.quants import dequantize, quantize

    deltas = adapter_deltas(adapter, base_config) if adapter else {}
    reader = gguf.GGUFReader(base_gguf)
    kept = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.Q8_0}
    cache_root.mkdir(parents=True, exist_ok=True)
    with written_aside(target) as staging:
        writer = gguf.GGUFWriter(str(staging), reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
        for field in reader.fields.values():
            if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE) \
                    or field.name.startswith("GGUF."):
                continue
            sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
        for tensor in reader.tensors:
            if tensor.tensor_type in kept and tensor.name not in deltas:
                writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
                continue
            weights = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            weights = weights.reshape([int(n) for n in reversed(tensor.shape)]) + deltas.get(tensor.name, 0.0)
            writer.add_tensor(tensor.name, quantize(weights, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return target
