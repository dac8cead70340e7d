"""Training a LoRA adapter (peft) on a registry LLM with a token-level loss: seeded, checkpointed, resumable.

Shared by the reranker and reader trainers. A checkpoint (adapter weights, optimizer, schedule, step, losses) is
written every ``checkpoint_every`` steps and picked up on restart, so an interrupted run resumes to the same
weights (the example order, shuffles and dropout are seeded by epoch and step). The finished adapter is
published atomically with its ``training.json``.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from core.atomic_publish import publish_folder, written_aside
from core.device import torch_device
from core.model_loading import load_causal_lm

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
Progress = Callable[[int, int, float], None]


@dataclass
class TrainingSequence:
    """Prompt + target token ids; the LM loss covers ``ids[target_start:]`` with ``weights`` (one per target
    token). For FIRST, ``rank_position`` is where the next-token logits of ``identifier_ids`` are the passages'
    scores, and ``teacher_ranks[i]`` is the teacher's rank (0 = best) of the passage shown i-th."""

    ids: list[int]
    target_start: int
    weights: list[float]
    rank_position: int | None = None
    identifier_ids: list[int] = field(default_factory=list)
    teacher_ranks: list[int] = field(default_factory=list)


SequencesOf = Callable[[int, random.Random], list[TrainingSequence]]  # (example index, step rng) → sequences
LossOf = Callable[[list[torch.Tensor], list[TrainingSequence]], torch.Tensor]


class LoraTraining(BaseModel):
    """Hyper-parameters every LoRA run shares (validated before any model is loaded)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "smollm2-135m-instruct"
    epochs: int = Field(1, ge=1, le=20)
    max_examples: int | None = Field(None, ge=1, description="use the first N training examples (seeded order)")
    learning_rate: float = Field(2e-4, gt=0, le=1e-2)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    lora_rank: int = Field(16, ge=1, le=256)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    seed: int = 13
    checkpoint_every: int = Field(25, ge=1)


@dataclass
class TrainedAdapter:
    """The trained model (peft-wrapped), its per-step losses and the training time."""

    model: Any
    losses: list[float]
    seconds: float


def train_lora(config: LoraTraining, examples: int, sequences_of: SequencesOf, loss_of: LossOf, out: Path,
               progress: Progress | None = None) -> TrainedAdapter:
    """One step per example per epoch (examples shuffled per epoch, seeded); resumes from ``out``'s checkpoint.
    The checkpoint folder stays until :func:`publish_adapter` has published ``out``."""
    model = trainable_model(config)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    total = examples * config.epochs
    warmup = max(1, int(total * config.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    checkpoint = checkpoint_path(out)
    step, losses, seconds = resume(checkpoint, model, optimizer, schedule)
    model.train()
    began = time.perf_counter() - seconds
    while step < total:
        epoch, position = divmod(step, examples)
        order = list(range(examples))
        random.Random(config.seed + epoch).shuffle(order)
        rng = random.Random(config.seed * 100_003 + step)  # per-step shuffles and dropout: same after a resume
        torch.manual_seed(config.seed * 100_003 + step)
        sequences = sequences_of(order[position], rng)
        loss = loss_of(target_logits(model, sequences), sequences)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        losses.append(round(loss.item(), 5))
        if progress:
            progress(step, total, losses[-1])
        if step % config.checkpoint_every == 0 and step < total:
            save_checkpoint(checkpoint, model, optimizer, schedule, step, losses, time.perf_counter() - began)
    return TrainedAdapter(model, losses, time.perf_counter() - began)


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint") / "state.pt"


def trainable_model(config: LoraTraining) -> Any:
    """The base LLM (fp32 on CPU, bf16 on CUDA, SDPA attention) wrapped with a fresh, seeded LoRA."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    model, _ = load_causal_lm(config.model, attn_implementation="sdpa")
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    return get_peft_model(model, lora).to(torch_device())


def target_logits(model: Any, sequences: list[TrainingSequence]) -> list[torch.Tensor]:
    """Per sequence, the logits from position ``target_start - 1`` to the end (one padded forward)."""
    width = max(len(s.ids) for s in sequences)
    device = next(model.parameters()).device
    ids = torch.zeros(len(sequences), width, dtype=torch.long)
    mask = torch.zeros(len(sequences), width, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence.ids)] = torch.tensor(sequence.ids)
        mask[row, :len(sequence.ids)] = 1
    keep = width - min(s.target_start for s in sequences) + 1
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=keep).logits
    offset = width - logits.shape[1]
    return [logits[row, s.target_start - 1 - offset:len(s.ids) - offset].cpu()
            for row, s in enumerate(sequences)]


def weighted_lm_loss(logits: list[torch.Tensor], sequences: list[TrainingSequence]) -> torch.Tensor:
    """Mean over sequences of the weighted mean cross-entropy of the target tokens; ``logits[k]``: (target
    length + 1, vocab) for sequence k, from position ``target_start - 1`` on."""
    total = torch.zeros(())
    for row, sequence in zip(logits, sequences):
        targets = torch.tensor(sequence.ids[sequence.target_start:])
        weights = torch.tensor(sequence.weights)
        losses = torch.nn.functional.cross_entropy(row[:-1].float(), targets, reduction="none")
        total = total + (weights * losses).sum() / weights.sum()
    return total / len(sequences)


def resume(checkpoint: Path, model: Any, optimizer: Any, schedule: Any) -> tuple[int, list[float], float]:
    """(step, losses, seconds so far) from the checkpoint, or a fresh start."""
    if not checkpoint.exists():
        return 0, [], 0.0
    from peft import set_peft_model_state_dict

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    set_peft_model_state_dict(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state["step"], state["losses"], state["seconds"]


def save_checkpoint(path: Path, model: Any, optimizer: Any, schedule: Any, step: int, losses: list[float],
                    seconds: float) -> None:
    from peft import get_peft_model_state_dict

    with written_aside(path) as partial:
        torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "step": step, "losses": losses, "seconds": seconds}, partial)


def run_record(config: LoraTraining, trained: TrainedAdapter) -> dict[str, Any]:
    """The part of ``training.json`` every run has: base, hyper-parameters, adapter, loss curve, time, device."""
    losses = trained.losses
    every = max(1, math.ceil(len(losses) / 50))
    curve = [[min(i + every, len(losses)), round(sum(losses[i:i + every]) / len(losses[i:i + every]), 4)]
             for i in range(0, len(losses), every)]
    return {"base_model": config.model, "hyperparameters": config.model_dump(),
            "adapter": "LoRA (peft) on " + ", ".join(LORA_TARGETS), "steps": len(losses), "loss_curve": curve,
            "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
            "seconds": round(trained.seconds, 1), "device": torch_device()}


def publish_adapter(trained: TrainedAdapter, record: dict[str, Any], out: Path) -> None:
    """Write the adapter (fp16 weights) and ``training.json`` aside, switch ``out`` to it atomically, then drop
    the checkpoint."""
    from safetensors.torch import load_file, save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    trained.model.save_pretrained(staging)
    settings = staging / "adapter_config.json"  # name the base as the registry does, not this machine's cache path
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "base_model_name_or_path": record["base_model"]},
                                   indent=2, sort_keys=True))
    (staging / "README.md").unlink(missing_ok=True)  # peft's model-card template
    weights = staging / "adapter_model.safetensors"
    save_file({k: v.half() for k, v in load_file(weights).items()}, weights)
    (staging / "training.json").write_text(json.dumps(record, indent=1))
    publish_folder(staging, out)
    shutil.rmtree(checkpoint_path(out).parent, ignore_errors=True)
