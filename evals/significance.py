"""Significance of per-query differences between systems, PyTerrier ``Experiment``-style and more.

Per system and metric: the mean with a 95% bootstrap confidence interval (scipy); against a named
baseline: the mean difference with its paired-bootstrap CI, a paired test (Student's paired t-test from
scipy for graded scores; exact McNemar from statsmodels for 0/1 outcomes such as EM or accuracy), the
Holm-corrected p-value over all compared systems (statsmodels), and wins / ties / losses per query.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

CONFIDENCE = 0.95
RESAMPLES = 10_000
ALPHA = 0.05
TIE_TOLERANCE = 1e-9

PerQuery = dict[str, float]  # query id → score


@dataclass
class MetricStats:
    """One system's score on one metric, and (unless it is the baseline) how it compares."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    delta: float | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    test: str | None = None
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool | None = None
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None

    def as_dict(self) -> dict[str, float | int | bool | str | None]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def bootstrap_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (10,000 resamples, seeded: the same data gives the same CI)."""
    if len(values) < 2 or np.ptp(values) == 0:
        mean = float(np.mean(values)) if len(values) else math.nan
        return mean, mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap((values,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                                 method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_p_value(system: np.ndarray, baseline: np.ndarray, binary: bool) -> tuple[str, float]:
    """Exact McNemar on discordant pairs for 0/1 outcomes, else the paired t-test; 1.0 when nothing differs."""
    if binary:
        only_system = int(np.sum((system > 0.5) & (baseline <= 0.5)))
        only_baseline = int(np.sum((system <= 0.5) & (baseline > 0.5)))
        if only_system + only_baseline == 0:
            return "mcnemar", 1.0
        both = int(np.sum((system > 0.5) & (baseline > 0.5)))
        neither = len(system) - both - only_system - only_baseline
        return "mcnemar", float(mcnemar([[both, only_system], [only_baseline, neither]], exact=True).pvalue)
    differences = system - baseline
    if len(differences) < 2 or np.all(np.abs(differences) <= TIE_TOLERANCE):
        return "t-test", 1.0
    if np.ptp(differences) == 0:  # a constant non-zero shift: the t statistic is infinite
        return "t-test", 0.0
    return "t-test", float(stats.ttest_rel(system, baseline).pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (statsmodels), in the input order."""
    if not p_values:
        return []
    return [float(p) for p in multipletests(p_values, alpha=ALPHA, method="holm")[1]]


def compare_systems(scores: dict[str, dict[str, PerQuery]], baseline: str,
                    binary_metrics: tuple[str, ...] = ()) -> dict[str, dict[str, MetricStats]]:
    """``scores[system][metric][qid]`` → ``stats[system][metric]``; every system is paired with ``baseline``
    on the baseline's query ids (a query a system did not answer scores 0, as trec_eval -c does)."""
    if baseline not in scores:
        raise ValueError(f"baseline '{baseline}' is not among the systems {sorted(scores)}")
    result: dict[str, dict[str, MetricStats]] = {name: {} for name in scores}
    for metric, base_scores in scores[baseline].items():
        qids = sorted(base_scores)
        base = np.array([base_scores[q] for q in qids], dtype=float)
        others = [name for name in scores if name != baseline]
        values = {name: np.array([scores[name][metric].get(q, 0.0) for q in qids], dtype=float) for name in scores}
        for name in scores:
            result[name][metric] = MetricStats(float(values[name].mean()), *bootstrap_ci(values[name]), n=len(qids))
        p_values = []
        for name in others:
            differences = values[name] - base
            entry = result[name][metric]
            entry.delta = float(differences.mean())
            entry.delta_ci_low, entry.delta_ci_high = bootstrap_ci(differences)
            entry.test, entry.p_value = paired_p_value(values[name], base, metric in binary_metrics)
            entry.wins = int(np.sum(differences > TIE_TOLERANCE))
            entry.losses = int(np.sum(differences < -TIE_TOLERANCE))
            entry.ties = len(qids) - entry.wins - entry.losses
            p_values.append(entry.p_value)
        for name, adjusted in zip(others, holm(p_values)):
            result[name][metric].p_holm = adjusted
            result[name][metric].significant = adjusted < ALPHA
    return result
