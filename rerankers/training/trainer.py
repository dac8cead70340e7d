"""Training a reranker adapter: LoRA (peft) on a registry LLM with one of the objectives, seeded and
resumable. A checkpoint (adapter weights, optimizer, schedule, step, losses) is written every
``checkpoint_every`` steps and picked up on restart, so an interrupted run resumes to the same weights.
The finished adapter is published atomically with its ``training.json``.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from core.atomic_publish import publish_folder
from core.device import torch_device
from core.errors import InvalidInputError
from core.model_loading import load_causal_lm
from rerankers.training.examples import RankingExample, TrainingSequence
from rerankers.training.objectives import SERVES, Objective, make_objective

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
Progress = Callable[[int, int, float], None]


class RerankerTraining(BaseModel):
    """Hyper-parameters of one training run (validated before any model is loaded)."""

    model_config = ConfigDict(extra="forbid")

    objective: Literal["first", "fullrank", "pointwise"]
    model: str = "smollm2-135m-instruct"
    window: int = Field(20, ge=2, le=100, description="candidates per prompt (first, fullrank)")
    passage_words: int = Field(30, ge=1, le=300)
    epochs: int = Field(1, ge=1, le=20)
    max_examples: int | None = Field(None, ge=1, description="use the first N training queries (seeded order)")
    learning_rate: float = Field(2e-4, gt=0, le=1e-2)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    lora_rank: int = Field(16, ge=1, le=256)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    ranking_weight: float = Field(10.0, ge=0, description="λ of FIRST's RankNet term")
    pointwise_negatives: int = Field(3, ge=1, le=50)
    shuffle_fraction: float = Field(1.0, ge=0, le=1, description="first, fullrank: share of steps whose candidates "
                                    "are shown shuffled; the others keep the first-stage order inference sees")
    seed: int = 13
    checkpoint_every: int = Field(25, ge=1)


def train_reranker(config: RerankerTraining, examples: list[RankingExample], out: Path,
                   data_record: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """Train, then publish the adapter folder ``out`` (adapter weights, ``training.json``); returns the record."""
    examples = usable_examples(config, examples)
    objective = make_objective(config.objective, config.model, config.passage_words, config.window,
                               config.ranking_weight, config.pointwise_negatives, config.shuffle_fraction)
    if objective.tokenizer.chat_template is None:
        raise InvalidInputError(f"Model '{config.model}' has no chat template: the reranker prompts need one.")
    model = trainable_model(config)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    total = len(examples) * config.epochs
    warmup = max(1, int(total * config.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    checkpoint = out.with_name(out.name + ".checkpoint") / "state.pt"
    step, losses, seconds = resume(checkpoint, model, optimizer, schedule)
    model.train()
    began = time.perf_counter() - seconds
    while step < total:
        epoch, position = divmod(step, len(examples))
        order = list(range(len(examples)))
        random.Random(config.seed + epoch).shuffle(order)
        rng = random.Random(config.seed * 100_003 + step)  # per-step shuffles and dropout: same after a resume
        torch.manual_seed(config.seed * 100_003 + step)
        sequences = objective.sequences(examples[order[position]], rng)
        loss = objective.loss(target_logits(model, sequences), sequences)
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
    record = training_record(config, objective, examples, data_record, losses, time.perf_counter() - began)
    publish_adapter(model, record, out)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    return record


def usable_examples(config: RerankerTraining, examples: list[RankingExample]) -> list[RankingExample]:
    """Examples with a positive (and, for pointwise, a negative), cut to ``window`` candidates."""
    kept = []
    for example in examples:
        documents = example.documents[:config.window]
        teacher = [i for i in example.teacher if i < len(documents)]
        if any(d.id in example.relevant for d in documents) and len(documents) >= 2:
            kept.append(RankingExample(example.query_id, example.query, documents, example.relevant, teacher))
    if not kept:
        raise InvalidInputError("No training query has a judged relevant passage among its candidates.")
    rng = random.Random(config.seed)
    rng.shuffle(kept)
    return kept[:config.max_examples] if config.max_examples else kept


def trainable_model(config: RerankerTraining) -> Any:
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

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "step": step, "losses": losses, "seconds": seconds}, partial)
    partial.replace(path)


def training_record(config: RerankerTraining, objective: Objective, examples: list[RankingExample],
                    data: dict[str, Any], losses: list[float], seconds: float) -> dict[str, Any]:
    """What ``training.json`` says: base, objective, what it serves, data, hyper-parameters, loss curve, time."""
    every = max(1, math.ceil(len(losses) / 50))
    return {"base_model": config.model, "objective": config.objective, "serves": list(SERVES[config.objective]),
            "passage_words": config.passage_words, "window": config.window,
            "hyperparameters": config.model_dump(), "adapter": "LoRA (peft) on " + ", ".join(LORA_TARGETS),
            "data": {**data, "examples_used": len(examples), "query_ids": sorted(e.query_id for e in examples)},
            "steps": len(losses), "loss_curve": [[min(i + every, len(losses)), round(sum(losses[i:i + every]) /
                                                                                  len(losses[i:i + every]), 4)]
                                                 for i in range(0, len(losses), every)],
            "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
            "seconds": round(seconds, 1), "device": torch_device(),
            "reranker_parameters": objective.reranker.init_parameters()}


def publish_adapter(model: Any, record: dict[str, Any], out: Path) -> None:
    """Write the adapter (fp16 weights) and ``training.json`` aside, then switch ``out`` to it atomically."""
    from safetensors.torch import load_file, save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    weights = staging / "adapter_model.safetensors"
    save_file({k: v.half() for k, v in load_file(weights).items()}, weights)
    (staging / "training.json").write_text(json.dumps(record, indent=1))
    publish_folder(staging, out)
