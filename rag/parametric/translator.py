"""DyPRAG's parameter translator (the reference's ``src/projector.py``): per (MLP projection, layer) two small
hypernetworks without biases, one for A [r, in] and one for B [out, r], each ``reshape(W2 · ReLU(W1 · x))``
of x = [document embedding ; raw layer index], where the document embedding is the base LLM's last-layer
hidden state at the document's last token. Weights start from N(0, 1e-7). The delta it gives is injected
unscaled (ΔW = B·A, the reference's ``delta_inject``), unlike a peft LoRA's (alpha / r)·B·A."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.errors import ModelUnavailableError
from core.lora_delta import MLP_MODULES, LoraDelta, delta_key

CONFIG_FILE = "translator.json"
WEIGHTS_FILE = "translator.safetensors"
INIT_STD = 1e-7
TRANSLATED_SCALE = 1.0  # ΔW = B·A, as the reference injects it


@dataclass(frozen=True)
class TranslatorConfig:
    base_model: str  # the LLM whose hidden states it reads and whose MLPs it adapts
    layers: int
    hidden_size: int
    intermediate_size: int
    rank: int = 2
    alpha: int = 32  # of the PRAG LoRAs it learned from (its own delta is unscaled)
    projector_hidden: int = 32  # p in the paper

    def shapes(self, module: str) -> tuple[int, int]:
        """(in, out) features of a projection."""
        if module == "down_proj":
            return self.intermediate_size, self.hidden_size
        return self.hidden_size, self.intermediate_size


class ParameterTranslator(nn.Module):
    """Document embedding → a ``LoraDelta`` for every MLP projection of every layer."""

    def __init__(self, config: TranslatorConfig) -> None:
        super().__init__()
        self.config = config
        self.nets = nn.ModuleDict()
        for layer in range(config.layers):
            for module in MLP_MODULES:
                n_in, n_out = config.shapes(module)
                for factor, size in (("A", n_in), ("B", n_out)):
                    net = nn.Sequential(nn.Linear(config.hidden_size + 1, config.projector_hidden, bias=False),
                                        nn.ReLU(), nn.Linear(config.projector_hidden, config.rank * size, bias=False))
                    for linear in (net[0], net[2]):
                        nn.init.normal_(linear.weight, std=INIT_STD)
                    self.nets[_name(layer, module, factor)] = net

    def factors(self, embedding: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """A and B per projection for one document embedding [hidden_size] (differentiable)."""
        r = self.config.rank
        out = {}
        for layer in range(self.config.layers):
            x = torch.cat([embedding, embedding.new_tensor([float(layer)])])
            for module in MLP_MODULES:
                n_in, n_out = self.config.shapes(module)
                a = self.nets[_name(layer, module, "A")](x).view(r, n_in)
                b = self.nets[_name(layer, module, "B")](x).view(n_out, r)
                out[delta_key(layer, module)] = (a, b)
        return out

    def delta(self, embedding: torch.Tensor) -> LoraDelta:
        return LoraDelta(self.factors(embedding), TRANSLATED_SCALE)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, folder / WEIGHTS_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, folder: Path) -> ParameterTranslator:
        try:
            config = TranslatorConfig(**json.loads((folder / CONFIG_FILE).read_text()))
            translator = cls(config)
            translator.load_state_dict(load_file(folder / WEIGHTS_FILE))
        except (OSError, ValueError, TypeError, RuntimeError) as error:
            raise ModelUnavailableError(f"The DyPRAG translator in {folder} cannot be loaded ({error}).") from error
        return translator.eval()


def _name(layer: int, module: str, factor: str) -> str:
    return f"{layer}_{module}_{factor}"
