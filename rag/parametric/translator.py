"""DyPRAG's parameter translator: one small hypernetwork per (MLP projection, layer) that maps a document's
embedding — the base LLM's last-layer hidden state at the document's last token, concatenated with the layer
index — to that projection's LoRA factors A [r, in] and B [out, r]:  A, B = reshape(W2 · ReLU(W1 · x))."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.errors import ModelUnavailableError
from rag.parametric.lora_delta import MLP_MODULES, LoraDelta, delta_key

CONFIG_FILE = "translator.json"
WEIGHTS_FILE = "translator.safetensors"


@dataclass(frozen=True)
class TranslatorConfig:
    base_model: str  # the LLM whose hidden states it reads and whose MLPs it adapts
    layers: int
    hidden_size: int
    intermediate_size: int
    rank: int = 2
    alpha: int = 32
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
                net = nn.Sequential(nn.Linear(config.hidden_size + 1, config.projector_hidden), nn.ReLU(),
                                    nn.Linear(config.projector_hidden, config.rank * (n_in + n_out)))
                nn.init.normal_(net[2].weight, std=1e-3)  # start near a zero delta
                nn.init.zeros_(net[2].bias)
                self.nets[_name(layer, module)] = net

    def factors(self, embedding: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """A and B per projection for one document embedding [hidden_size] (differentiable)."""
        r = self.config.rank
        out = {}
        for layer in range(self.config.layers):
            x = torch.cat([embedding, embedding.new_tensor([layer / max(1, self.config.layers - 1)])])
            for module in MLP_MODULES:
                n_in, n_out = self.config.shapes(module)
                flat = self.nets[_name(layer, module)](x)
                out[delta_key(layer, module)] = (flat[:r * n_in].view(r, n_in), flat[r * n_in:].view(n_out, r))
        return out

    def delta(self, embedding: torch.Tensor) -> LoraDelta:
        return LoraDelta(self.factors(embedding), self.config.alpha / self.config.rank)

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


def _name(layer: int, module: str) -> str:
    return f"{layer}_{module}"
