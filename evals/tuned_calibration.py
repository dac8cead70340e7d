"""Whether a tuned encoder keeps its base model's relevance calibration (``rerankers/relevance_calibration.py``).

A calibration fitted on judged pairs maps (log rank, cosine) to P(relevant); after fine-tuning, the cosines may mean
something else. Refitting on the tuning job's synthetic queries is worse than keeping the base's: measured on 170
judged SciFact train queries no model trained on (docs/tuning.md), the base calibration applied to a tuned encoder
gave ECE 0.0074, a fit on its held-out synthetic queries (one relevant passage each, easier than real queries) 0.0218,
``1 / rank`` 0.1325. So the tuned model inherits the base's calibration, unless its scores drifted: on the job's
held-out synthetic queries, the base calibration's ECE on the tuned model's rankings may exceed its ECE on the live
model's rankings of the same queries by at most ``ECE_TOLERANCE``; beyond that the tuned model serves ``1 / rank``,
flagged ``calibrated: false``, rather than probabilities that no longer hold."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from haystack import Document

from evals.score_calibration import along_ranking, quality
from rerankers.ranked_documents import MODEL_SCORE
from rerankers.relevance_calibration import Calibration

CALIBRATION_DEPTH = 20  # ranks read per query: the depth the shipped calibrations were fitted on
ECE_TOLERANCE = 0.02  # ~3x the 95 % bootstrap half-width of one ECE over ~70 held-out queries (±0.007)


def calibration_rows(rankings: Sequence[Sequence[Document]], relevant: Sequence[str]) -> list[dict[str, Any]]:
    """One row per returned document of each query's ranking (its first ``CALIBRATION_DEPTH``): query, rank, model
    score, whether it is that query's source passage."""
    return [{"query_id": str(number), "rank": rank, MODEL_SCORE: document.meta.get(MODEL_SCORE),
             "relevant": document.id == source}
            for number, (ranked, source) in enumerate(zip(rankings, relevant))
            for rank, document in enumerate(ranked[:CALIBRATION_DEPTH], start=1)]


def inheritance_verdict(base: Calibration | None, live_rows: list[dict[str, Any]],
                        tuned_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the tuned model may serve ``base`` (the calibration fitted for its base model), with the held-out
    ECEs that decided it; no base calibration, no rows: not inherited."""
    if base is None or not tuned_rows:
        return {"inherited": False, "reason": "no calibration of the base model to inherit" if base is None
                else "no held-out queries"}
    ece = {name: quality(along_ranking(rows, base), np.array([r["relevant"] for r in rows]))["ece"]
           for name, rows in (("live", live_rows), ("tuned", tuned_rows))}
    inherited = ece["tuned"] <= ece["live"] + ECE_TOLERANCE
    return {"inherited": inherited, "from": base.model, "held_out_ece": ece, "tolerance": ECE_TOLERANCE,
            **({} if inherited else {"reason": "the tuned model's scores drifted: the base calibration's ECE on "
                                               "its held-out rankings exceeds the live model's by more than the "
                                               "tolerance"})}
