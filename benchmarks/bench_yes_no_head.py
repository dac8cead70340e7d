"""What the yes/no decision head costs or saves per answer: ``yes-no`` answers decided by the shipped head (one
forward pass over the prompt plus "So the answer is:", then at most a few tokens of citation) vs the baseline, the
same model writing its own answer (reasoning first, then "So the answer is: yes/no"), on the same StrategyQA
questions and BM25 passages in one run.

    python benchmarks/bench_yes_no_head.py [--dataset ../shared/data/strategyqa] [--questions 20] [--top-k 5]
        [--max-new-tokens 128]

Prints latency (mean, p50), generated tokens and forward passes per answer with their ratios to the baseline, and
each side's accuracy on these questions (a small sample: the evaluation of the head is `siftrag eval-answers`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/strategyqa"))
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()

    from evals.beir_loader import read_corpus
    from evals.qa_dataset import read_questions
    from indexes.bm25_index import bm25_rankings
    from indexes.document_store import indexable_text
    from rag.answer_generator import AnswerGenerator

    questions = [q for q in read_questions(args.dataset, args.questions) if q.answers[0] in ("yes", "no")]
    corpus = {d.id: d for d in read_corpus(args.dataset)}
    rankings = bm25_rankings({i: indexable_text(d) for i, d in corpus.items()},
                             {q.id: q.question for q in questions}, args.top_k)
    decided = AnswerGenerator(answer_format="yes-no", max_new_tokens=args.max_new_tokens)
    if decided.decision_head is None:
        sys.exit("No shipped yes/no head for the default model: nothing to compare.")
    runs = {"model answers": AnswerGenerator(decided.decision_head.base, args.max_new_tokens, "yes-no",
                                             decided.passage_words),
            "head decides": decided}
    runs["model answers"].llm.generate("warm up", 2)
    print(f"{decided.model}, {len(questions)} yes/no questions of {args.dataset.name} (BM25 top-{args.top_k}, "
          f"{decided.passage_words} words each), max_new_tokens {args.max_new_tokens}, head "
          f"{decided.decision_head.name}")
    print(f"{'':>13} {'mean s':>7} {'p50 s':>6} {'x base':>7} {'tokens':>7} {'x base':>7} {'passes':>7} {'accuracy':>9}")
    base: tuple[float, float] | None = None
    for label, generator in runs.items():
        seconds, tokens, passes, correct = [], [], [], 0
        for q in questions:
            began = time.perf_counter()
            result = generator.run(q.question, [corpus[d] for d in rankings[q.id]])
            seconds.append(time.perf_counter() - began)
            tokens.append(result["meta"]["generated_tokens"])
            passes.append(result["meta"]["forward_passes"])
            correct += result["answer"] == q.answers[0]
        mean_s, mean_tokens = statistics.fmean(seconds), statistics.fmean(tokens)
        base = base or (mean_s, mean_tokens)
        print(f"{label:>13} {mean_s:7.2f} {statistics.median(seconds):6.2f} {mean_s / base[0]:7.2f} "
              f"{mean_tokens:7.1f} {mean_tokens / max(base[1], 1e-9):7.2f} {statistics.fmean(passes):7.1f} "
              f"{correct / len(questions):9.3f}")


if __name__ == "__main__":
    main()
