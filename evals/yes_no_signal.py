"""Whether an answering model's next-token scores separate "yes" from "no" on a yes/no QA folder (StrategyQA).

    python -m evals.yes_no_signal --dataset ../shared/data/strategyqa [--model smollm2-135m-instruct]
                                  [--evaluate 200] [--fit 400] [--top-k 0 --top-k 5]

Per question, the margin log P(yes) − log P(no) of the first token after the ``yes-no`` answer prompt plus
"So the answer is:" (no reasoning), closed-book (top-k 0) or over the BM25 top-k passages. Prints, for the first
``--evaluate`` questions: ROC AUC of the margin against the gold answer, the accuracy of its sign, and the accuracy
of a threshold fitted on the next ``--fit`` questions only (predicting "yes" as often as their gold answers do),
beside always-"no". An AUC near 0.5 means no calibration or decision rule on top of these scores can help.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from evals.dataset_collection import ensure_dataset_collection
from evals.qa_dataset import QAItem, read_questions
from indexes.retriever import collection_manager
from rag.answer_generator import AnswerGenerator

DECISION = "So the answer is:"


def margins(generator: AnswerGenerator, questions: list[QAItem], search: object, top_k: int) -> np.ndarray:
    """log P(yes) − log P(no) of the token after each question's prompt and ``DECISION`` (either spelling)."""
    llm = generator.llm
    yes = [llm.encode(" yes")[0], llm.encode("yes")[0]]
    no = [llm.encode(" no")[0], llm.encode("no")[0]]
    prompts = [generator.prompt(q.question, search("bm25", [q.question], top_k)[0] if top_k else []) + DECISION
               for q in questions]
    logprobs = llm.next_token_logprobs(prompts)
    return (torch.logsumexp(logprobs[:, yes], dim=1) - torch.logsumexp(logprobs[:, no], dim=1)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--evaluate", type=int, default=200, help="the evaluation sample: the first N questions")
    parser.add_argument("--fit", type=int, default=400, help="questions after those, used to fit the threshold")
    parser.add_argument("--top-k", type=int, action="append", help="passages per prompt; 0 = closed-book")
    parser.add_argument("--passage-words", type=int, default=50)
    args = parser.parse_args()

    questions = [q for q in read_questions(args.dataset, args.evaluate + args.fit) if q.answers[0] in ("yes", "no")]
    gold = np.array([q.answers[0] == "yes" for q in questions])
    evaluate, fit = slice(0, args.evaluate), slice(args.evaluate, None)
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25"])
    generator = AnswerGenerator(model=args.model, answer_format="yes-no", passage_words=args.passage_words)
    print(f"{args.model}, {args.dataset.name}: {min(args.evaluate, len(questions))} evaluation questions, "
          f"{len(gold[fit])} for fitting; always-no {1 - gold[evaluate].mean():.3f}")
    print(f"{'top-k':>5} {'AUC eval':>9} {'AUC fit':>8} {'sign acc':>9} {'yes rate':>9} {'fitted thr acc':>15}")
    for top_k in args.top_k or [0, 5]:
        margin = margins(generator, questions, collection.search, top_k)
        threshold = np.quantile(margin[fit], 1 - gold[fit].mean())
        print(f"{top_k:>5} {roc_auc_score(gold[evaluate], margin[evaluate]):9.3f} "
              f"{roc_auc_score(gold[fit], margin[fit]):8.3f} {((margin[evaluate] > 0) == gold[evaluate]).mean():9.3f} "
              f"{(margin[evaluate] > 0).mean():9.3f} {((margin[evaluate] > threshold) == gold[evaluate]).mean():15.3f}")


if __name__ == "__main__":
    main()
