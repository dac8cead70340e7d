"""Training the TILDEv2 scorer: contrastive cross-entropy over groups of one positive and BM25 hard
negatives, plus in-batch negatives (every other query's group), as in the paper. Seeded and resumable:
a checkpoint (weights, optimizer, step) is written every ``checkpoint_every`` steps and picked up on restart.
"""
from __future__ import annotations

import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from core.atomic_publish import publish_folder, staging_folder, written_aside
from core.device import torch_device
from indexes.tilde.scorer import TildeScorer


class TrainingConfig(BaseModel):
    """Hyper-parameters of one scorer training run (validated before any model is loaded)."""

    model_config = ConfigDict(extra="forbid")

    encoder: str  # folder of a BERT-vocabulary encoder
    out: Path
    epochs: int = Field(2, ge=1, le=50)
    batch_queries: int = Field(8, ge=1, le=256)
    group_size: int = Field(8, ge=2, le=64, description="1 positive + (group_size - 1) hard negatives")
    learning_rate: float = Field(2e-4, gt=0, le=1e-2)
    max_length: int = Field(384, ge=16, le=512)
    seed: int = 13
    checkpoint_every: int = Field(50, ge=1)


@dataclass
class TrainingExample:
    query: str
    positives: list[str]  # passage texts (expanded)
    negatives: list[str]  # hard negatives, best BM25 rank first


def batch_scores(query_ids: torch.Tensor, passage_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B queries × N passages) TILDEv2 scores: Σ over query tokens of the max weight of that id in the passage.

    ``query_ids`` (B, Lq) padded with -1; ``passage_ids`` and ``weights`` (N, Lp), weights 0 where unscorable.
    """
    match = query_ids[:, None, :, None] == passage_ids[None, :, None, :]  # B, N, Lq, Lp
    best = (match * weights[None, :, None, :]).amax(dim=-1)  # B, N, Lq
    return best.sum(dim=-1)


def padded_query_ids(scorer: TildeScorer, queries: list[str]) -> torch.Tensor:
    """Every WordPiece of each query (no stop list while training, as in ielab/TILDE), padded with -1."""
    tokenized = scorer.tokenizer(queries, add_special_tokens=False, truncation=True, max_length=scorer.max_length)
    rows = [ids or [-1] for ids in tokenized["input_ids"]]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [-1] * (width - len(r)) for r in rows])


def make_group(example: TrainingExample, group_size: int, rng: random.Random) -> list[str]:
    negatives = rng.sample(example.negatives, min(group_size - 1, len(example.negatives)))
    while len(negatives) < group_size - 1:  # few candidates: repeat (they still count as negatives)
        negatives.append(rng.choice(example.negatives))
    return [rng.choice(example.positives)] + negatives


def train_scorer(config: TrainingConfig, examples: list[TrainingExample],
                 progress: Callable[[int, int, float], None] | None = None,
                 data_record: dict[str, Any] | None = None) -> Path:
    """Train and save a scorer into ``config.out`` (atomically); resume from its checkpoint if present.
    ``data_record`` (what the examples were made from) is saved in the scorer's ``training`` metadata."""
    examples = [e for e in examples if e.positives and e.negatives]
    if not examples:
        raise ValueError("No training examples with both a positive and a negative passage.")
    device = torch_device()
    torch.manual_seed(config.seed)
    scorer = TildeScorer.from_encoder(config.encoder, config.max_length).to(device)
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=config.learning_rate, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(examples) / config.batch_queries)
    total = steps_per_epoch * config.epochs
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    checkpoint = config.out.with_name(config.out.name + ".checkpoint") / "state.pt"
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        scorer.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
    scorer.train()
    loss_value = float("nan")
    while step < total:
        epoch, position = divmod(step, steps_per_epoch)
        order = list(range(len(examples)))
        random.Random(config.seed + epoch).shuffle(order)
        rng = random.Random(config.seed * 100_003 + step)  # per-step sampling and dropout: identical after a resume
        torch.manual_seed(config.seed * 100_003 + step)
        batch = [examples[i] for i in order[position * config.batch_queries:(position + 1) * config.batch_queries]]
        passages = [text for e in batch for text in make_group(e, config.group_size, rng)]
        tokens = scorer.tokenize_passages(passages).to(device)
        weights = scorer.token_weights(tokens["input_ids"], tokens["attention_mask"], scorable_only=False)
        scores = batch_scores(padded_query_ids(scorer, [e.query for e in batch]).to(device),
                              tokens["input_ids"], weights)
        targets = torch.arange(len(batch), device=device) * config.group_size
        loss = torch.nn.functional.cross_entropy(scores, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(scorer.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        loss_value = loss.item()
        if progress:
            progress(step, total, loss_value)
        if step % config.checkpoint_every == 0 and step < total:
            save_checkpoint(checkpoint, scorer, optimizer, schedule, step)
    scorer.eval()
    scorer.info.update(training=config.model_dump(mode="json") | {
        "examples": len(examples), "steps": total, "final_loss": round(loss_value, 4), "data": data_record or {}})
    with staging_folder(config.out.parent, f".{config.out.name}.staging-") as staging:
        scorer.save(staging)
        publish_folder(staging, config.out)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    return config.out


def save_checkpoint(path: Path, scorer: TildeScorer, optimizer, schedule, step: int) -> None:
    with written_aside(path) as partial:
        torch.save({"model": scorer.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "step": step}, partial)
