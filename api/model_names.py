"""Which models a request may name, in a field or in any options dict: registry names of the right kind, trained
names, or what the operator allowed in ``SIFTRAG_ALLOWED_MODELS``. A path or hub id never (they are server
settings), so nothing a request names reaches the disk or the hub unless the operator said so."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.adapters import ADAPTER_NAME
from core.model_registry import REGISTRY, is_request_model_name, trained_encoder_folder
from core.settings import get_settings
from indexes.tilde.scorer_store import find_scorer
from rerankers.registry import LLM_METHODS, RERANK_METHODS

MODEL_NAMES = sorted(name for name, spec in REGISTRY.items() if name == spec.name)  # listed; aliases are accepted
LLM_NAMES = [name for name in MODEL_NAMES if REGISTRY[name].kind.endswith("causal-lm")]
EMBEDDER_NAMES = [name for name in MODEL_NAMES if REGISTRY[name].kind == "sentence-transformer"]


@dataclass(frozen=True)
class ModelRule:
    """What one field may name (besides the operator's allow-list), and how its 422 says so."""

    accepts: Callable[[str], bool]
    names: str

    def check(self, value: Any, field: str) -> None:
        """ValueError naming ``field`` unless ``value`` is a name this rule or the operator allows."""
        if isinstance(value, str) and (value in get_settings().allowed_models or self.accepts(value)):
            return
        raise ValueError(f"{field} must be {self.names}, or a model the operator allowed in SIFTRAG_ALLOWED_MODELS; "
                         "other paths and hub ids are server settings")


LLM = ModelRule(lambda name: is_request_model_name(name) and (name not in REGISTRY or
                                                               REGISTRY[name].kind.endswith("causal-lm")),
                f"one of {', '.join(LLM_NAMES)}, a trained adapter's name, BASE+ADAPTER")
EMBEDDER = ModelRule(lambda name: name in EMBEDDER_NAMES or trained_encoder_folder(name) is not None,
                     f"one of the sentence-transformers {', '.join(EMBEDDER_NAMES)} or a trained encoder's name")
ANY_MODEL = ModelRule(is_request_model_name, f"one of {', '.join(MODEL_NAMES)}, a trained adapter's name, "
                                             "BASE+ADAPTER")
TILDE_SCORER = ModelRule(lambda name: bool(ADAPTER_NAME.fullmatch(name)) and find_scorer(name) is not None,
                         "the name of a trained or shipped TILDEv2 scorer")


def check_option_models(options: Mapping[str, Any], field: str, rules: Mapping[str, ModelRule] | None = None) -> None:
    """Every option whose key names a model (``model``, ``embedding_model``, …) checked by its rule in ``rules``,
    else ``EMBEDDER`` for an ``*embedding_model`` and ``ANY_MODEL`` for the rest; ValueError naming the option."""
    for key, value in options.items():
        if "model" in key.lower():
            default = EMBEDDER if key.lower().endswith("embedding_model") else ANY_MODEL
            (rules or {}).get(key, default).check(value, f"{field}.{key}")


def check_rerank_model(method: str | None, model: str | None, field: str) -> None:
    """A rerank model is an LLM of an LLM rerank method (the other methods name no model in a request)."""
    if model is not None and method in RERANK_METHODS and method not in LLM_METHODS:
        raise ValueError(f"{field} applies to the LLM rerank methods ({', '.join(LLM_METHODS)}), not to '{method}'")
