"""Training a reranker adapter: LoRA on a registry LLM with one of the objectives (the loop, checkpoints and the
atomic publish are :mod:`core.lora_training`'s)."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from core.errors import InvalidInputError
from core.lora_training import LoraTraining, Progress, publish_adapter, run_record, train_lora
from rerankers.registry import OBJECTIVES, SERVES
from rerankers.training.examples import RankingExample
from rerankers.training.objectives import make_objective


class RerankerTraining(LoraTraining):
    """Hyper-parameters of one reranker training run."""

    objective: Literal[OBJECTIVES]
    window: int = Field(20, ge=2, le=100, description="candidates per prompt (first, fullrank)")
    passage_words: int = Field(30, ge=1, le=300)
    ranking_weight: float = Field(10.0, ge=0, description="λ of FIRST's RankNet term")
    pointwise_negatives: int = Field(3, ge=1, le=50)
    shuffle_fraction: float = Field(1.0, ge=0, le=1, description="first, fullrank: share of steps whose candidates "
                                    "are shown shuffled; the others keep the first-stage order inference sees")


def train_reranker(config: RerankerTraining, examples: list[RankingExample], out: Path,
                   data_record: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """Train, then publish the adapter folder ``out`` (adapter weights, ``training.json``); returns the record."""
    examples = usable_examples(config, examples)
    objective = make_objective(config.objective, config.model, config.passage_words, config.window,
                               config.ranking_weight, config.pointwise_negatives, config.shuffle_fraction)
    if objective.tokenizer.chat_template is None:
        raise InvalidInputError(f"Model '{config.model}' has no chat template: the reranker prompts need one.")
    trained = train_lora(config, len(examples), lambda i, rng: objective.sequences(examples[i], rng),
                         objective.loss, out, progress)
    record = {**run_record(config, trained), "objective": config.objective,
              "serves": list(SERVES[config.objective]), "passage_words": config.passage_words,
              "window": config.window,
              "data": {**data_record, "examples_used": len(examples),
                       "query_ids": sorted(e.query_id for e in examples)},
              "reranker_parameters": objective.reranker.init_parameters()}
    publish_adapter(trained, record, out)
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
