"""Retrieval metrics via ir-measures (pytrec_eval backend), with trec_eval's conventions.

``-c`` (a judged query missing from the run scores 0) is applied by averaging over all judged
queries; ``-l N`` (minimum relevant grade for binary measures) is ``rel_level``. BEIR's convention
(``EvaluateRetrieval(ignore_identical_ids=True)``, Anserini's ``-removeQuery``) drops a retrieved document
whose id is the query's own id: ``drop_identical_ids``.
"""
from __future__ import annotations

import ir_measures
from ir_measures import AP, RR, R, nDCG

from evals.trec_files import Qrels, Run


def drop_identical_ids(run: Run) -> tuple[Run, int]:
    """The run without documents whose id equals their query's id, and how many were dropped."""
    kept = {qid: {doc: score for doc, score in docs.items() if doc != qid} for qid, docs in run.items()}
    return kept, sum(len(docs) for docs in run.values()) - sum(len(docs) for docs in kept.values())


def measures_for(rel_level: int = 1) -> dict[str, object]:
    """Report names → ir-measures measures. nDCG uses graded relevance; the binary ones use rel_level."""
    return {
        "nDCG@10": nDCG @ 10,
        "R@10": R(rel=rel_level) @ 10,
        "R@100": R(rel=rel_level) @ 100,
        "R@1000": R(rel=rel_level) @ 1000,
        "MRR@10": RR(rel=rel_level) @ 10,
        "MAP": AP(rel=rel_level),
    }


def per_query(run: Run, qrels: Qrels, rel_level: int = 1) -> dict[str, dict[str, float]]:
    """{metric: {qid: value}} over every judged query (missing queries score 0, as trec_eval -c)."""
    measures = measures_for(rel_level)
    by_measure = {measure: name for name, measure in measures.items()}
    values: dict[str, dict[str, float]] = {name: {qid: 0.0 for qid in qrels} for name in measures}
    judged_run = {qid: docs for qid, docs in run.items() if qid in qrels}
    for metric in ir_measures.iter_calc(list(measures.values()), qrels, judged_run):
        values[by_measure[metric.measure]][metric.query_id] = float(metric.value)
    return values


def evaluate(run: Run, qrels: Qrels, rel_level: int = 1) -> dict[str, float]:
    """Mean of each metric over all judged queries."""
    return {name: sum(v.values()) / max(len(v), 1) for name, v in per_query(run, qrels, rel_level).items()}
