"""What the answer formats' stop rules save: generated tokens and latency with the stop rule vs without it (the
baseline: decoding runs on until end-of-sequence or ``max_new_tokens``), on the same prompts in one run.

    python benchmarks/bench_answer_stops.py [--dataset ../shared/data/2wikimultihopqa] [--questions 20]
        [--format short] [--top-k 3] [--passage-words 50] [--max-new-tokens 96] [--model smollm2-135m-instruct]

Also prints how often each run ended by itself and whether the scored answer span stayed the same.
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
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/2wikimultihopqa"))
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--format", default="short")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--passage-words", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    from core.llm_backend import Decoding
    from evals.beir_loader import read_corpus
    from evals.qa_dataset import read_questions
    from indexes.bm25_index import bm25_rankings
    from indexes.document_store import indexable_text
    from rag.answer_generator import AnswerGenerator

    questions = read_questions(args.dataset, args.questions)
    corpus = {d.id: d for d in read_corpus(args.dataset)}
    rankings = bm25_rankings({i: indexable_text(d) for i, d in corpus.items()},
                             {q.id: q.question for q in questions}, args.top_k)
    generator = AnswerGenerator(args.model, args.max_new_tokens, args.format, args.passage_words)
    prompts = [generator.prompt(q.question, [corpus[d] for d in rankings[q.id]]) for q in questions]
    generator.llm.generate(prompts[0], 4)  # load and warm up
    runs = {}
    for label, decoding in (("no stop rule", Decoding()), ("stop rule", generator.decoding)):
        tokens, seconds, ended, spans = [], [], 0, []
        for prompt in prompts:
            began = time.perf_counter()
            generation = generator.llm.generate(prompt, args.max_new_tokens, decoding=decoding)
            seconds.append(time.perf_counter() - began)
            tokens.append(len(generation.token_ids))
            ended += generation.finish_reason == "stop"
            spans.append(generator.finish(generation.text)[1])
        runs[label] = (tokens, seconds, ended, spans)
    base_tokens, base_seconds = statistics.fmean(runs["no stop rule"][0]), statistics.fmean(runs["no stop rule"][1])
    print(f"{generator.model}, {args.format} format, {len(prompts)} questions of {args.dataset.name} (BM25 top-"
          f"{args.top_k}, {args.passage_words} words each), max_new_tokens {args.max_new_tokens}")
    print(f"{'':>13} {'tokens':>7} {'x base':>7} {'mean s':>7} {'p50 s':>6} {'x base':>7} {'ended':>6}")
    for label, (tokens, seconds, ended, _) in runs.items():
        print(f"{label:>13} {statistics.fmean(tokens):7.1f} {statistics.fmean(tokens) / base_tokens:7.2f} "
              f"{statistics.fmean(seconds):7.2f} {statistics.median(seconds):6.2f} "
              f"{statistics.fmean(seconds) / base_seconds:7.2f} {ended / len(prompts):6.0%}")
    same = sum(a == b for a, b in zip(runs["no stop rule"][3], runs["stop rule"][3]))
    print(f"same answer span with and without the stop rule: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
