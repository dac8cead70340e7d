"""Answer evaluation: EM / token F1, prompt tokens and latency of answer-pipeline variants on a QA dataset.

A variant is ``none`` (closed book), ``rag@K`` (top-K passages) or ``COMPRESSOR@K`` (``tcra-summary@5``,
``tcra-semantic@5``, ``crag@20``), optionally with its own answering model (``rag@3:model=reader-2wiki``); an
adapter is never evaluated on a question its training saw. Every question runs alone through the whole pipeline,
as a request would, so its end-to-end latency is measured. (Batching generation across questions does not pay on CPU:
left-padded prompts of 500–2,000 tokens made 2WikiMultihopQA slower per question, not faster.)"""
from __future__ import annotations

import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from core.adapters import split_model_name
from core.errors import InvalidInputError
from evals.beir_loader import read_qrels_tsv
from evals.dataset_collection import ensure_dataset_collection
from evals.qa_comparison import check_baseline, compare_and_record, comparison_cells
from evals.qa_dataset import QAItem, read_questions
from evals.qa_metrics import exact_match, token_f1
from evals.significance import MetricStats, paired_p_value
from indexes.retriever import collection_manager
from rag.answer_generator import answering_model, yes_no_head
from rag.answer_pipeline import AnswerConfig, AnswerPipeline
from rag.compressors.registry import COMPRESSORS
from rag.retrieval import index_kinds_of
from rag.yes_no_head import YesNoHead

console = Console(stderr=True, width=None if sys.stderr.isatty() else 180)  # tables stay whole in logs


@dataclass(frozen=True)
class Variant:
    name: str
    compressor: str | None
    top_k: int
    options: tuple[tuple[str, Any], ...] = ()  # compressor options
    model: str | None = None  # answering LLM (e.g. a reader adapter); None: the run's --model


def parse_variant(spec: str) -> Variant:
    """``none`` | ``rag@K`` | ``<compressor>@K``, each optionally followed by ``:option=value,…`` (values read as
    JSON, else as text): ``model=NAME`` for every variant (``rag@3:model=reader-2wiki``), compressor options for
    compressors (``crag@10:query_focused=true``, ``tcra-semantic@5:strategy=iterative``)."""
    head, _, option_text = spec.partition(":")
    method, _, k = head.partition("@")
    if head != "none" and (method != "rag" and method not in COMPRESSORS or not k.isdigit() or int(k) < 1):
        raise InvalidInputError(f"Variant '{spec}' is not none, rag@K or one of {', '.join(COMPRESSORS)} with @K.")
    options, model = [], None
    for item in filter(None, option_text.split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise InvalidInputError(f"Variant '{spec}': write options as option=value.")
        if key == "model":
            model = value
        elif method in COMPRESSORS:
            options.append((key, _option_value(value)))
        else:
            raise InvalidInputError(f"Variant '{spec}': none and rag@K take only model=NAME.")
    if head == "none":
        return Variant(spec, None, 0, model=model)
    return Variant(spec, None if method == "rag" else method, int(k), tuple(options), model)


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def evaluate_variant(pipeline: AnswerPipeline, questions: list[QAItem], progress: Progress,
                     gold: dict[str, dict[str, int]] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Scores and costs of one variant, and one prediction row per question; with ``gold`` (question id →
    gold passage ids) also the precision and recall of the citations."""
    task = progress.add_task(pipeline.config.compressor or f"k={pipeline.config.top_k}", total=len(questions))
    form = pipeline.generator.form
    rows: list[dict[str, Any]] = []
    for item in questions:
        result = pipeline.run(item.question)
        row = _row(item, form.answer_span(result["output"]), result)
        if gold is not None:
            row |= citation_scores([c for p in result["citations"] for c in p["source_ids"]], gold.get(item.id, {}))
        rows.append(row)
        progress.advance(task)
    latencies = [r["timings_ms"]["total"] for r in rows]
    correct = [r for r in rows if r["em"]]
    summary = {
        "questions": len(rows),
        "EM": _mean(r["em"] for r in rows), "F1": _mean(r["f1"] for r in rows),
        "stopped": _mean(r["finish_reason"] == "stop" for r in rows),
        "citation_precision": _mean(r["citation_precision"] for r in rows if r.get("citation_precision") is not None),
        "citation_recall": _mean(r["citation_recall"] for r in rows if "citation_recall" in r),
        "correct_citing_gold": _mean(r["cites_gold"] for r in correct if "cites_gold" in r),
        "prompt_tokens": _mean(r["tokens"]["prompt"] for r in rows),
        "context_tokens": _mean(r["tokens"]["context"] for r in rows),
        "retrieved_context_tokens": _mean(r["tokens"]["retrieved_context"] for r in rows),
        "compression_ratio": _mean(r["compression_ratio"] for r in rows if r["compression_ratio"] is not None),
        "compress_ms": _mean(r["timings_ms"].get("compress", 0.0) for r in rows),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_mean": round(statistics.fmean(latencies), 1),
    }
    return summary, rows


def _row(item: QAItem, prediction: str, result: dict[str, Any]) -> dict[str, Any]:
    compression = result["compression"]
    return {"id": item.id, "question": item.question, "answers": list(item.answers), "output": result["output"],
            "prediction": prediction, "em": exact_match(prediction, item.answers),
            "f1": round(token_f1(prediction, item.answers), 4), "finish_reason": result["finish_reason"],
            "cited": [c["id"] for c in result["citations"]], "tokens": result["tokens"],
            "timings_ms": result["timings_ms"],
            "compression_ratio": compression["compression_ratio"] if compression else None}


def citation_scores(cited: list[str], gold: dict[str, int]) -> dict[str, Any]:
    """Precision (None when nothing is cited) and recall of the cited passage ids against the gold ones,
    and whether any gold passage is cited."""
    relevant = {doc for doc, grade in gold.items() if grade > 0}
    hits = len(set(cited) & relevant)
    return {"citation_precision": round(hits / len(set(cited)), 4) if cited else None,
            "citation_recall": round(hits / len(relevant), 4) if relevant else 0.0, "cites_gold": hits > 0}


def gold_passages(dataset: Path) -> dict[str, dict[str, int]] | None:
    """The dataset's qrels (question id → gold passage ids) when it has a ``qrels/`` folder."""
    if not (dataset / "qrels").is_dir():
        return None
    files = sorted((dataset / "qrels").glob("*.tsv*"), key=lambda f: "dev500" not in f.name)
    return read_qrels_tsv(files[0]) if files else None


def check_unseen(model: str, questions: list[QAItem], head: YesNoHead | None = None) -> None:
    """Refuse to evaluate an adapter or a yes/no head on a question its training saw (its ``training.json``
    lists them)."""
    adapter = split_model_name(model)[1]
    for trained, what in ((adapter, "Adapter"), (head, "Yes/no head")):
        seen = set(trained.training.get("data", {}).get("question_ids", [])) if trained else set()
        overlap = sorted(seen & {q.id for q in questions})
        if overlap:
            raise InvalidInputError(f"{what} '{trained.name}' was trained on {len(overlap)} of these questions (e.g. "
                                    f"{overlap[0]}): evaluate on questions it never saw (fewer --max-questions).")


def _mean(values: Any) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), 4) if values else None


def run_answer_evaluation(dataset: Path, variants: list[str], limit: int | None, out_dir: Path,
                          retriever: str = "bm25", model: str | None = None, max_new_tokens: int = 24,
                          baseline: str | None = None, answer_format: str | None = None,
                          repetition_penalty: float = 1.0, passage_words: int | None = None,
                          skip: int = 0) -> dict[str, Any]:
    """Evaluate each variant on ``limit`` questions after the first ``skip`` (file order); writes report.json,
    per_question.tsv and the predictions; compares every variant with ``baseline`` (default: the first) per
    question. The answer format defaults to ``yes-no`` for yes/no datasets, else ``short``."""
    parsed = [parse_variant(v) for v in variants]
    baseline = check_baseline(baseline, [v.name for v in parsed])
    questions = read_questions(dataset, None if limit is None else skip + limit)[skip:]
    if not questions:
        raise InvalidInputError(f"No questions left in {dataset} after skipping {skip}.")
    answer_format = answer_format or ("yes-no" if questions and all(q.answers[0] in ("yes", "no") for q in questions)
                                      else "short")
    configs = [AnswerConfig(retriever=retriever, top_k=v.top_k, compressor=v.compressor, compressor_options=v.options,
                            model=v.model or model, max_new_tokens=max_new_tokens, answer_format=answer_format,
                            repetition_penalty=repetition_penalty, passage_words=passage_words) for v in parsed]
    for config in configs:
        config.check()
        model = answering_model(config.model, config.answer_format)
        check_unseen(model, questions, yes_no_head(None, model, config.model is not None, config.answer_format))
    gold = gold_passages(dataset)
    collection = ensure_dataset_collection(collection_manager(), dataset, index_kinds_of(retriever))
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"dataset": str(dataset), "retriever": retriever, "questions": len(questions),
                              "skipped": skip,
                              "max_new_tokens": max_new_tokens, "answer_format": answer_format,
                              "repetition_penalty": repetition_penalty, "passage_words": passage_words,
                              "model": configs[0].model or "default",
                              "baseline": baseline, "variants": {}}
    all_rows: dict[str, list[dict[str, Any]]] = {}
    with Progress(console=console) as progress:
        for variant, config in zip(parsed, configs):
            pipeline = AnswerPipeline(collection.name, config)
            summary, rows = evaluate_variant(pipeline, questions, progress, gold)
            head = pipeline.generator.decision_head
            report["variants"][variant.name] = {"model": pipeline.generator.model,
                                                "decision_head": head.name if head else None, **summary}
            all_rows[variant.name] = rows
            file_name = re.sub(r"[^\w.-]+", "-", variant.name.replace("@", "-at-"))
            with (out_dir / f"predictions-{file_name}.jsonl").open("w") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in rows)
    _add_reductions(report["variants"])
    if answer_format == "yes-no":
        _add_majority_comparison(report, all_rows)
    compared = compare_and_record("answers", dataset, all_rows, baseline, report["variants"],
                                  {"retriever": retriever, "model": model, "max_new_tokens": max_new_tokens,
                                   "answer_format": answer_format, "repetition_penalty": repetition_penalty,
                                   "passage_words": passage_words}, "F1",
                                  out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    console.print(render(report, compared))
    for name, summary in report["variants"].items():
        if "vs_majority" in summary:
            m = summary["vs_majority"]
            console.print(f"{name}: accuracy {summary['EM']:.3f} vs always-{m['answer']} {m['accuracy']:.3f} "
                          f"({m['wins']} wins / {m['losses']} losses, exact McNemar p = {m['p']:.3g})")
    return report


def _add_reductions(results: dict[str, dict[str, Any]]) -> None:
    """Token reduction and EM/F1 change of each compressor against plain RAG at the same k, when both ran."""
    for name, summary in results.items():
        method, _, k = name.partition(":")[0].partition("@")
        baseline = results.get(f"rag@{k}")
        if method in COMPRESSORS and baseline:
            summary["vs_rag"] = {
                "prompt_token_reduction": round(1 - summary["prompt_tokens"] / baseline["prompt_tokens"], 4),
                "context_token_reduction": round(1 - summary["context_tokens"] / baseline["context_tokens"], 4),
                "EM_change": round(summary["EM"] - baseline["EM"], 4),
                "F1_change": round(summary["F1"] - baseline["F1"], 4),
            }


def _add_majority_comparison(report: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> None:
    """For yes/no questions: each variant against always giving the sample's more frequent gold answer (the
    accuracy a model reaches without reading anything), paired by question with an exact McNemar test."""
    for name, variant_rows in rows.items():
        gold = [r["answers"][0] for r in variant_rows]
        answer = max(("no", "yes"), key=gold.count)
        constant = np.array([g == answer for g in gold], dtype=float)
        correct = np.array([bool(r["em"]) for r in variant_rows], dtype=float)
        report["variants"][name]["vs_majority"] = {
            "answer": answer, "accuracy": round(float(constant.mean()), 4),
            "wins": int(np.sum((correct > 0.5) & (constant < 0.5))),
            "losses": int(np.sum((correct < 0.5) & (constant > 0.5))),
            "p": round(paired_p_value(correct, constant, binary=True)[1], 6)}


def render(report: dict[str, Any], compared: dict[str, dict[str, MetricStats]]) -> Table:
    table = Table(title=f"{report['dataset']} — {report['questions']} questions, {report['retriever']}, "
                        f"baseline {report['baseline']}",
                  caption="(…): 95% bootstrap CI; then Δ, Holm-corrected p (EM: exact McNemar, F1: paired t-test; "
                          "*: p < 0.05) and wins/ties/losses against the baseline")
    for column in ("variant", "EM", "F1", "cite P", "cite R", "correct→gold", "stopped", "prompt tok", "ctx tok",
                   "ratio", "vs rag@k tokens", "p50 ms"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, s in report["variants"].items():
        reduction = s.get("vs_rag", {}).get("prompt_token_reduction")
        table.add_row(name, comparison_cells(compared[name]["EM"]), comparison_cells(compared[name]["F1"]),
                      _share(s["citation_precision"]), _share(s["citation_recall"]), _share(s["correct_citing_gold"]),
                      _share(s["stopped"]), f"{s['prompt_tokens']:.0f}",
                      f"{s['context_tokens']:.0f}", "" if s["compression_ratio"] is None else f"{s['compression_ratio']:.2f}",
                      "" if reduction is None else f"{-100 * reduction:+.0f}%",
                      f"{s['latency_ms_p50']:.0f}")
    return table


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
