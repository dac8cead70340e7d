"""Statistics of system comparisons against hand computations and scipy's own tests."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evals.significance import bootstrap_ci, compare_systems, holm, paired_p_value


def test_holm_matches_a_hand_computation() -> None:
    # sorted 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → kept monotone: 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_exact_mcnemar_is_the_binomial_test_on_discordant_pairs() -> None:
    system = np.array([1] * 8 + [0] * 1 + [1] * 5 + [0] * 6, dtype=float)
    baseline = np.array([0] * 8 + [1] * 1 + [1] * 5 + [0] * 6, dtype=float)
    test, p = paired_p_value(system, baseline, binary=True)
    assert test == "mcnemar"
    assert p == pytest.approx(2 * (1 + 9) / 2 ** 9)  # 8 vs 1 discordant: two-sided binomial, p = 0.0390625


def test_comparison_of_three_systems() -> None:
    rng = np.random.default_rng(7)
    qids = [f"q{i}" for i in range(60)]
    base = rng.uniform(0, 1, 60)
    better = np.clip(base + rng.normal(0.15, 0.1, 60), 0, 1)
    scores = {"base": {"nDCG@10": dict(zip(qids, base))}, "same": {"nDCG@10": dict(zip(qids, base))},
              "better": {"nDCG@10": dict(zip(qids, better))}}
    result = compare_systems(scores, "base")
    entry = result["better"]["nDCG@10"]
    assert entry.delta == pytest.approx(float(np.mean(better - base)))
    assert entry.p_value == pytest.approx(float(stats.ttest_rel(better, base).pvalue))
    assert entry.p_holm == pytest.approx(min(1.0, 2 * entry.p_value))  # the smaller of two p-values, ×2
    assert entry.significant and entry.delta_ci_low > 0
    assert entry.wins + entry.ties + entry.losses == 60 and entry.wins > entry.losses
    assert entry.ci_low < entry.mean < entry.ci_high
    same = result["same"]["nDCG@10"]
    assert (same.delta, same.p_value, same.ties, same.significant) == (0.0, 1.0, 60, False)
    assert result["base"]["nDCG@10"].delta is None  # the baseline is not compared with itself
    assert compare_systems(scores, "base")["better"]["nDCG@10"].ci_low == entry.ci_low  # seeded bootstrap


def test_bootstrap_ci_covers_the_mean_and_narrows_with_n() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.uniform(0, 1, 30), rng.uniform(0, 1, 3000)
    low_s, high_s = bootstrap_ci(small)
    low_l, high_l = bootstrap_ci(large)
    assert low_s < small.mean() < high_s and low_l < large.mean() < high_l
    assert high_l - low_l < (high_s - low_s) / 4
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)
