"""Relevance scores clients can threshold: a probability of relevance in [0, 1], the same meaning in every request.

A reranker's own scores cannot be thresholded: FIRST returns rank positions, fused methods min-max normalize each
candidate list (the best document of every request scores alike). A calibration (Platt scaling: logistic regression
on judged pairs of a training split, fitted once per method and model by ``evals/score_calibration.py``) reads two
things of each returned document: its rank in the method's order (``log rank``) and, for the methods whose own score
means the same across requests (cosine, P(yes), impacts, cross-encoder logits), that ``model_score`` before fusion
with the first stage. Probabilities are then made non-increasing along the ranking, so a document never scores above
one ranked before it and sorting by the score keeps the method's order. Shipped calibrations are in
``models/calibration/<method>.json``. A model tuned for a collection (its folder, ``siftrag tune``) carries its own
``calibration-<method>.json`` beside that folder when the tuning job let it inherit its base model's
(``evals/tuned_calibration.py``). A method and model with none get the documented fallback ``1 / rank``, flagged
``calibrated: false``."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.adapters import SHIPPED_MODELS
from rerankers.ranked_documents import MODEL_SCORE

CALIBRATIONS = SHIPPED_MODELS / "calibration"
FEATURES = ("log_rank", MODEL_SCORE)


@dataclass(frozen=True)
class Calibration:
    """P(relevant) = sigmoid(intercept + Σ coefficient · feature) for one method and model."""

    method: str
    model: str | None
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float

    def probability(self, rank: int, model_score: float | None) -> float:
        values = {"log_rank": math.log(rank), MODEL_SCORE: model_score}
        if any(values[f] is None for f in self.features):
            raise ValueError(f"calibration of '{self.method}' needs {', '.join(self.features)}")
        logit = self.intercept + sum(c * float(values[f]) for c, f in zip(self.coefficients, self.features))
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, logit))))

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "model": self.model, "features": list(self.features),
                "coefficients": list(self.coefficients), "intercept": self.intercept}


def calibration_path(method: str) -> Path:
    return CALIBRATIONS / f"{method}.json"


def tuned_calibration_path(method: str, model_folder: Path) -> Path:
    """Where the calibration of a model tuned for a collection lies: beside its folder, in the published version."""
    return model_folder.parent / f"calibration-{method}.json"


def write_tuned_calibration(method: str, model_folder: Path, base: Calibration, check: dict[str, Any]) -> Path:
    """Write ``base`` as the calibration of the tuned model in ``model_folder`` (with the ``check`` that allowed
    it); the file's path."""
    path = tuned_calibration_path(method, model_folder)
    record = {**Calibration(method, model_folder.name, base.features, base.coefficients, base.intercept).as_dict(),
              "inherited_from": base.model, "check": check}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


@lru_cache(maxsize=64)
def find_calibration(method: str, model: str | None) -> Calibration | None:
    """The calibration of ``method`` fitted for (or inherited by) ``model``, the component's model: a registry name
    reads the shipped one, a tuned model's folder the file beside it; None when there is none."""
    tuned = model is not None and Path(model).is_absolute()
    path = tuned_calibration_path(method, Path(model)) if tuned else calibration_path(method)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record["model"] != (Path(model).name if tuned else model):
        return None
    return Calibration(method, model, tuple(record["features"]), tuple(record["coefficients"]),
                       float(record["intercept"]))


def relevance_scores(method: str, model: str | None, model_scores: Sequence[float | None]) -> tuple[
        list[float], bool]:
    """(a probability of relevance per returned document, given their ``model_score`` best first; whether a fitted
    calibration gave them — else ``1 / rank``)."""
    calibration = find_calibration(method, model)
    return served_probabilities(calibration, model_scores), calibration is not None


def served_probabilities(calibration: Calibration | None, model_scores: Sequence[float | None]) -> list[float]:
    """``calibration``'s probabilities (``1 / rank`` without one) of one ranking, best first, made non-increasing."""
    scores, ceiling = [], 1.0
    for rank, model_score in enumerate(model_scores, start=1):
        ceiling = min(ceiling, calibration.probability(rank, model_score) if calibration else 1 / rank)
        scores.append(ceiling)
    return scores


def component_model(component: Any) -> str | None:
    """The model a reranker component runs (what its calibration was fitted for)."""
    return getattr(component, "model", None)
