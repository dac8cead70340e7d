"""Whether an answering model's next-token scores separate "yes" from "no" on a yes/no QA folder (StrategyQA).

    python -m evals.yes_no_signal --dataset ../shared/data/strategyqa [--model smollm2-135m-instruct]
                                  [--evaluate 200] [--fit 400] [--top-k 0 --top-k 5]

Per question (one forward pass each), the margin log P(yes) − log P(no) of the first token after the ``yes-no``
answer prompt plus "So the answer is:" (no reasoning), closed-book (top-k 0) or over the BM25 top-k passages. Prints, for the first
``--evaluate`` questions: ROC AUC of the margin against the gold answer, the accuracy of its sign, and the accuracy
of a threshold fitted on the next ``--fit`` questions only (predicting "yes" as often as their gold answers do),
beside always-"no". An AUC near 0.5 means no calibration or decision rule on top of these scores can help.

``--probe`` also fits a linear probe (standardized logistic regression, regularization chosen by 5-fold
cross-validation) on the model's last-layer hidden state at the same position, on the fitting questions only, and
reports its ROC AUC and accuracy on the evaluation questions with an exact McNemar test against always-"no".
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from evals.dataset_collection import ensure_dataset_collection
from evals.qa_dataset import QAItem, read_questions
from evals.significance import bootstrap_ci, paired_p_value
from indexes.retriever import collection_manager
from rag.answer_generator import AnswerGenerator

DECISION = "So the answer is:"


def decision_prompts(generator: AnswerGenerator, questions: list[QAItem], search: object, top_k: int) -> list[str]:
    """Each question's ``yes-no`` answer prompt over its BM25 top-k passages (none for 0), then ``DECISION``."""
    return [generator.prompt(q.question, search("bm25", [q.question], top_k)[0] if top_k else []) + DECISION
            for q in questions]


def decision_scores(generator: AnswerGenerator, prompts: list[str],
                    batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(log P(yes) − log P(no) of the token after each decision prompt, either spelling; [len(prompts), hidden]
    last-layer states at the prompt's last token), both from one forward pass per batch of similar lengths."""
    llm = generator.llm
    yes = [llm.encode(" yes")[0], llm.encode("yes")[0]]
    no = [llm.encode(" no")[0], llm.encode("no")[0]]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    states = torch.zeros(len(prompts), llm.model.config.hidden_size)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        states[rows] = llm.last_token_states([prompts[i] for i in rows], max_tokens=4096)
    head = llm.model.get_output_embeddings()
    with torch.no_grad():
        logprobs = torch.log_softmax(head(states.to(head.weight.device, head.weight.dtype)).float().cpu(), dim=-1)
    margin = torch.logsumexp(logprobs[:, yes], dim=1) - torch.logsumexp(logprobs[:, no], dim=1)
    return margin.numpy(), states.numpy()


def probe_report(states: np.ndarray, gold: np.ndarray, evaluate: slice, fit: slice) -> str:
    """Fit the linear probe on ``fit`` and describe it on ``evaluate``: AUC, accuracy with its 95% CI, and the
    exact McNemar p against always-"no"."""
    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=10, cv=5, max_iter=5000))
    probe.fit(states[fit], gold[fit])
    p_yes = probe.predict_proba(states[evaluate])[:, 1]
    correct = ((p_yes > 0.5) == gold[evaluate]).astype(float)
    always_no = (~gold[evaluate]).astype(float)
    low, high = bootstrap_ci(correct)
    _, p_value = paired_p_value(correct, always_no, binary=True)
    return (f"probe: AUC {roc_auc_score(gold[evaluate], p_yes):.3f}, accuracy {correct.mean():.3f} "
            f"({low:.3f}–{high:.3f}), yes rate {(p_yes > 0.5).mean():.3f}, vs always-no {always_no.mean():.3f}: "
            f"McNemar p = {p_value:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--evaluate", type=int, default=200, help="the evaluation sample: the first N questions")
    parser.add_argument("--fit", type=int, default=400, help="questions after those, used to fit the threshold")
    parser.add_argument("--top-k", type=int, action="append", help="passages per prompt; 0 = closed-book")
    parser.add_argument("--passage-words", type=int, default=50)
    parser.add_argument("--probe", action="store_true", help="also fit a linear probe on the hidden states")
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
        prompts = decision_prompts(generator, questions, collection.search, top_k)
        margin, states = decision_scores(generator, prompts)
        threshold = np.quantile(margin[fit], 1 - gold[fit].mean())
        print(f"{top_k:>5} {roc_auc_score(gold[evaluate], margin[evaluate]):9.3f} "
              f"{roc_auc_score(gold[fit], margin[fit]):8.3f} {((margin[evaluate] > 0) == gold[evaluate]).mean():9.3f} "
              f"{(margin[evaluate] > 0).mean():9.3f} {((margin[evaluate] > threshold) == gold[evaluate]).mean():15.3f}")
        if args.probe:
            print(f"{top_k:>5} " + probe_report(states, gold, evaluate, fit), flush=True)


if __name__ == "__main__":
    main()
