"""A trained yes/no decision head: a logistic regression on one layer of the answering LLM's hidden state at the
end of the ``yes-no`` answer prompt plus "So the answer is:". The 135M model's next-token logits carry no yes/no
signal on StrategyQA; its hidden state does (docs/readers.md), so the head decides and the model writes the rest.

A head lives in a folder with ``head.npz`` (layer, standardization, weights) and ``training.json`` (base model,
data, question ids, cross-validated AUC); training publishes it under ``<data_dir>/models/heads/<name>``, heads that
measure well ship in ``models/heads/<name>``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from core.adapters import ADAPTER_NAME, SHIPPED_MODELS, TRAINING_FILE
from core.atomic_publish import publish_folder, staging_folder, written_aside
from core.errors import InvalidInputError, NotFoundError
from core.llm_backend import CallCounter, LLMBackend, PromptPrefix
from core.settings import get_settings

DECISION = "So the answer is:"
HEAD_FILE = "head.npz"
LAYER_C = 0.01  # the probe's C while the layer is chosen
KIND = "heads"


@dataclass(frozen=True)
class YesNoHead:
    """P(yes) from the states [n, layers + 1, hidden] that ``LLMBackend.layer_states`` returns."""
    name: str
    layer: int
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    training: dict[str, Any]

    @property
    def base(self) -> str:
        return str(self.training["base_model"])

    @property
    def with_passages(self) -> bool:
        """Whether it was fitted on prompts with passages (it decides those) or closed-book ones."""
        return bool(self.training.get("hyperparameters", {}).get("top_k", 0))

    @property
    def passage_words(self) -> int | None:
        return self.training.get("hyperparameters", {}).get("passage_words")

    def p_yes(self, states: np.ndarray) -> np.ndarray:
        logits = ((states[:, self.layer] - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def decide(self, llm: LLMBackend, prompt: str,
               counter: CallCounter | None = None) -> tuple[str, float, PromptPrefix]:
        """("yes" or "no", P(yes), the prompt plus ``DECISION`` as read) for an answer prompt, from one forward
        pass; generation continues from the prefix without reading the prompt again."""
        states, prefix = llm.prefill_states(prompt + DECISION, counter)
        p_yes = float(self.p_yes(states[None].numpy())[0])
        return ("yes" if p_yes > 0.5 else "no"), p_yes, prefix

    def save(self, folder: Path) -> None:
        """Publish with ``publish_folder``: a reader sees the previous head or this one, never a half-written one."""
        with staging_folder(folder.parent, prefix=f".{folder.name}.staging-") as staging:
            np.savez(staging / HEAD_FILE, layer=self.layer, mean=self.mean, scale=self.scale, coef=self.coef,
                     intercept=self.intercept)
            (staging / TRAINING_FILE).write_text(json.dumps(self.training, indent=1))
            publish_folder(staging, folder)


def load_head(folder: Path) -> YesNoHead:
    """The head in ``folder``, read from disk once per published version."""
    return _read_head(folder.name, folder.resolve(), (folder / TRAINING_FILE).stat().st_mtime)


@lru_cache(maxsize=16)
def _read_head(name: str, folder: Path, modified: float) -> YesNoHead:
    with np.load(folder / HEAD_FILE) as data:
        return YesNoHead(name, int(data["layer"]), data["mean"], data["scale"], data["coef"],
                         float(data["intercept"]), json.loads((folder / TRAINING_FILE).read_text()))


def find_head(name: str) -> YesNoHead:
    """The head called ``name``: trained (``<data_dir>/models/heads/``) or shipped (``models/heads/``)."""
    if not ADAPTER_NAME.fullmatch(name):
        raise InvalidInputError(f"'{name}' is not a head name (letters, digits, '.', '_', '-').")
    for folder in (head_dir(name), SHIPPED_MODELS / KIND / name):
        if (folder / HEAD_FILE).exists() and (folder / TRAINING_FILE).exists():
            return load_head(folder)
    raise NotFoundError(f"No yes/no head '{name}': train one with `siftrag train yes-no-head`.")


def head_dir(name: str) -> Path:
    """Where training publishes the head ``name``."""
    return get_settings().data_dir / "models" / KIND / name


def default_head(base: str) -> YesNoHead | None:
    """The first shipped head (by name) trained on ``base``, which decides ``yes-no`` answers of the untrained
    base model when no model is named, or None."""
    root = SHIPPED_MODELS / KIND
    folders = sorted(p for p in root.iterdir() if (p / HEAD_FILE).exists()) if root.is_dir() else []
    return next((head for head in map(load_head, folders) if head.base == base), None)


def new_probe(c: float | None = None) -> Pipeline:
    """Standardized logistic regression with ``c``, or its regularization chosen by 5-fold cross-validated AUC
    among strong ones (C ≤ 1: a few thousand questions against hundreds of dimensions; weaker ones overfit and
    converge slowly)."""
    regression = (LogisticRegression(C=c, max_iter=1000) if c is not None else
                  LogisticRegressionCV(Cs=np.logspace(-4, 0, 9), cv=5, max_iter=1000, scoring="roc_auc"))
    return make_pipeline(StandardScaler(), regression)


def fit_yes_no_head(name: str, states: np.ndarray, gold: np.ndarray, training: dict[str, Any],
                    layer: int | None = None) -> YesNoHead:
    """Fit on states [n, layers + 1, hidden] and gold yes (True) / no. ``layer`` None: the layer whose probe at
    ``LAYER_C`` has the best 5-fold AUC (``training`` gets them all); then C by cross-validation on that layer."""
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    layers = range(states.shape[1]) if layer is None else [layer]
    cv_auc = {k: float(cross_val_score(new_probe(LAYER_C), states[:, k], gold, cv=folds, scoring="roc_auc").mean())
              for k in tqdm(layers, desc="probe per layer", unit="layer")}
    best = max(cv_auc, key=cv_auc.__getitem__)
    scaler, regression = new_probe().fit(states[:, best], gold)
    return YesNoHead(name, best, scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32),
                     regression.coef_[0].astype(np.float32), float(regression.intercept_[0]),
                     {**training, "layer": best, "C": float(np.ravel(regression.C_)[0]),
                      "cv_auc": _best_cv_score(regression),
                      "cv_auc_by_layer": cv_auc, "questions": int(len(gold)), "yes_rate": float(gold.mean())})


def _best_cv_score(regression: LogisticRegressionCV) -> float:
    """The best mean fold score over the C grid, read from ``scores_`` as a dict by class (scikit-learn < 1.10's
    default) or as the [folds, l1 ratios, Cs] array that later versions return."""
    scores = regression.scores_
    folds = np.asarray(next(iter(scores.values())) if isinstance(scores, dict) else scores)
    return float(folds.mean(axis=0).max())


def decision_states(llm: LLMBackend, prompts: list[str], batch_size: int = 8, cache: Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """[len(prompts), layers + 1, hidden] states at the end of each prompt, from batches of similar lengths. With
    ``cache``, each prompt's states are kept there under a hash of the model and the prompt, so a stopped run
    resumes and a later one reuses them; ``progress(done, total)`` after each batch."""
    keys = [hashlib.sha256(f"{llm.model_name}\0{prompt}".encode()).hexdigest()[:24] for prompt in prompts]
    states: list[np.ndarray | None] = [None] * len(prompts)
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
        for i, key in enumerate(keys):
            if (cache / f"{key}.npy").exists():
                states[i] = np.load(cache / f"{key}.npy")
    missing = sorted((i for i, row in enumerate(states) if row is None), key=lambda i: len(prompts[i]))
    done = len(prompts) - len(missing)
    for start in tqdm(range(0, len(missing), batch_size), desc="decision states", unit="batch"):
        rows = missing[start:start + batch_size]
        batch = llm.layer_states([prompts[i] for i in rows], llm.context_length).numpy()
        for i, row in zip(rows, batch):
            states[i] = row
            if cache:
                with written_aside(cache / f"{keys[i]}.npy") as partial, partial.open("wb") as file:
                    np.save(file, row)
        if progress:
            progress(done + start + len(rows), len(prompts))
    return np.stack(states)  # type: ignore[arg-type]
