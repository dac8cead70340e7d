"""PRAG: one LoRA per document (rank 2, alpha 32, on every layer's MLP gate/up/down projections), trained
with ``peft`` on the document's augmentation examples (as the reference's ``src/encode.py``: AdamW 3e-4, one
epoch, batch 1, examples in order, the loss on every token). The trained factors become a ``LoraDelta``
with peft's scale alpha / rank."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from peft import LoraConfig, TaskType, get_peft_model
from peft.tuners.lora import LoraLayer

from core.lora_delta import MLP_MODULES, LoraDelta, delta_key
from core.model_loading import load_causal_lm

_FACTOR = re.compile(r"layers\.(\d+)\.mlp\.(\w+_proj)\.lora_([AB])\.default\.weight$")


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 2
    alpha: int = 32
    learning_rate: float = 3e-4
    epochs: int = 1

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


@dataclass
class TrainedLora:
    delta: LoraDelta
    loss_before: float  # mean example loss before training / after it
    loss_after: float


class PragTrainer:
    """A peft-wrapped copy of the base model whose LoRA is re-initialized and trained for each document."""

    def __init__(self, model_name: str, settings: LoraSettings) -> None:
        base, self.tokenizer = load_causal_lm(model_name, attn_implementation="sdpa")
        self.settings = settings
        config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=settings.rank, lora_alpha=settings.alpha,
                            target_modules=list(MLP_MODULES), lora_dropout=0.0)
        self.model = get_peft_model(base, config)
        self.device = next(self.model.parameters()).device

    def train(self, examples: list[list[int]], seed: int) -> TrainedLora:
        """A fresh LoRA (A random from ``seed``, B zero) trained on ``examples`` (token ids, all learned)."""
        torch.manual_seed(seed)
        for module in self.model.modules():
            if isinstance(module, LoraLayer):
                module.reset_lora_parameters("default", True)
        parameters = [p for n, p in self.model.named_parameters() if "lora_" in n]
        optimizer = torch.optim.AdamW(parameters, lr=self.settings.learning_rate)
        before = self.loss(examples)
        self.model.train()
        for _ in range(self.settings.epochs):
            for ids in examples:
                inputs = torch.tensor([ids], device=self.device)
                self.model(input_ids=inputs, labels=inputs).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        self.model.eval()
        return TrainedLora(self.delta(), before, self.loss(examples))

    @torch.no_grad()
    def loss(self, examples: list[list[int]]) -> float:
        """Mean whole-sequence LM loss of the examples under the current LoRA."""
        total = 0.0
        for ids in examples:
            inputs = torch.tensor([ids], device=self.device)
            total += float(self.model(input_ids=inputs, labels=inputs).loss)
        return total / len(examples)

    def delta(self) -> LoraDelta:
        """The current LoRA factors, detached, on the CPU in float32."""
        parts: dict[str, dict[str, torch.Tensor]] = {}
        for name, parameter in self.model.named_parameters():
            match = _FACTOR.search(name)
            if match:
                key = delta_key(int(match.group(1)), match.group(2))
                parts.setdefault(key, {})[match.group(3)] = parameter.detach().float().cpu().clone()
        return LoraDelta({k: (v["A"], v["B"]) for k, v in parts.items()}, self.settings.scale)
