"""LoRA deltas on a model's MLP projections, injected for one request only.

A ``LoraDelta`` holds, per projection (``layers.{i}.mlp.{gate,up,down}_proj``), the LoRA factors A [r, in]
and B [out, r]; the projection computes ``W x + scale · B (A x)``: scale = alpha / r for a PRAG LoRA (peft's
scaling), 1 for a translated delta (the reference's ``delta_inject`` adds ΔW = B·A unscaled). ``install_delta_hooks`` adds a forward
hook to every projection once; a hook adds the delta that is *active in the calling context* (a
``ContextVar``), so each request — each thread or task — sees only its own delta, and a request without one
runs the base model unchanged (the hook returns the output object untouched: bit-identical results).
``LLMBackend.with_delta`` is the way in: it installs the hooks and makes a delta active.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
_PROJECTION = re.compile(r"(?:^|\.)layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)$")
_ACTIVE: ContextVar[LoraDelta | None] = ContextVar("siftrag_lora_delta", default=None)


def delta_key(layer: int, module: str) -> str:
    return f"layers.{layer}.mlp.{module}"


@dataclass
class LoraDelta:
    """LoRA factors per projection key and the scale their product is added with."""

    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    scale: float

    def to(self, device: torch.device | str, dtype: torch.dtype) -> LoraDelta:
        return LoraDelta({k: (a.to(device, dtype), b.to(device, dtype)) for k, (a, b) in self.factors.items()},
                         self.scale)

    @staticmethod
    def average(deltas: list[LoraDelta]) -> LoraDelta:
        """The mean of A and the mean of B over documents (DyPRAG's multi-document merge)."""
        if not deltas:
            raise ValueError("no deltas to average")
        keys = deltas[0].factors
        return LoraDelta({k: (torch.stack([d.factors[k][0] for d in deltas]).mean(0),
                              torch.stack([d.factors[k][1] for d in deltas]).mean(0)) for k in keys},
                         deltas[0].scale)


def projections(model: nn.Module) -> dict[str, nn.Linear]:
    """The MLP projections of every decoder layer, by delta key."""
    found = {}
    for name, module in model.named_modules():
        match = _PROJECTION.search(name)
        if match and isinstance(module, nn.Linear):
            found[delta_key(int(match.group(1)), match.group(2))] = module
    if not found:
        raise ValueError(f"{type(model).__name__} has no layers.N.mlp.(gate|up|down)_proj linear layers")
    return found


def install_delta_hooks(model: nn.Module) -> None:
    """Hook every MLP projection once (idempotent); hooks do nothing unless a delta is active."""
    if getattr(model, "_siftrag_delta_hooks", False):
        return
    for key, module in projections(model).items():
        module.register_forward_hook(_hook(key))
    model._siftrag_delta_hooks = True


def _hook(key: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor | None]:
    def add_delta(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
        delta = _ACTIVE.get()
        if delta is None or key not in delta.factors:
            return None
        a, b = delta.factors[key]
        x = inputs[0]
        return output + delta.scale * F.linear(F.linear(x, a.to(x.dtype)), b.to(x.dtype))

    return add_delta


def current() -> LoraDelta | None:
    """The delta active in this context (None: the base model)."""
    return _ACTIVE.get()


@contextmanager
def active(delta: LoraDelta | None) -> Iterator[None]:
    """Make ``delta`` the one the hooks add, in this context only."""
    token = _ACTIVE.set(delta)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
