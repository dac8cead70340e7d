"""Whether an answering model's next-token scores separate "yes" from "no" on a yes/no QA folder (StrategyQA).

    python -m evals.yes_no_signal --dataset ../shared/data/strategyqa [--model smollm2-135m-instruct]
                                  [--evaluate 200] [--fit 400] [--top-k 0 --top-k 5]

Per question (one forward pass each), the margin log P(yes) − log P(no) of the first token after the ``yes-no``
answer prompt plus "So the answer is:" (no reasoning), closed-book (top-k 0) or over the BM25 top-k passages. Prints, for the first
``--evaluate`` questions: ROC AUC of the margin against the gold answer, the accuracy of its sign, and the accuracy
of a threshold fitted on the next ``--fit`` questions only (predicting "yes" as often as their gold answers do),
beside always-"no". An AUC near 0.5 means no calibration or decision rule on top of these scores can help.

``--probe`` also fits the yes/no decision head (``rag.yes_no_head``: standardized logistic regression on one
layer's hidden state at the same position, layer and regularization chosen by 5-fold cross-validation) on the
fitting questions only, and reports its ROC AUC and accuracy on the evaluation questions with an exact McNemar
test against always-"no". ``--cache DIR`` keeps the states as they are computed, so a stopped run resumes.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from evals.dataset_collection import ensure_dataset_collection
from evals.qa_dataset import read_questions
from evals.significance import bootstrap_ci, paired_p_value
from evals.yes_no_training_set import decision_prompts
from indexes.retriever import collection_manager
from rag.answer_generator import AnswerGenerator
from rag.yes_no_head import decision_states, fit_yes_no_head


def decision_scores(generator: AnswerGenerator, prompts: list[str], batch_size: int = 8,
                    cache: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(log P(yes) − log P(no) of the token after each decision prompt, either spelling; [len(prompts), layers + 1,
    hidden] states at the prompt's last token), both from one forward pass per batch (resumable with ``cache``)."""
    llm = generator.llm
    yes = [llm.encode(" yes")[0], llm.encode("yes")[0]]
    no = [llm.encode(" no")[0], llm.encode("no")[0]]
    states = decision_states(llm, prompts, batch_size, cache)
    head = llm.model.get_output_embeddings()
    with torch.no_grad():
        last = torch.from_numpy(states[:, -1]).to(head.weight.device, head.weight.dtype)
        logprobs = torch.log_softmax(head(last).float().cpu(), dim=-1)
    margin = torch.logsumexp(logprobs[:, yes], dim=1) - torch.logsumexp(logprobs[:, no], dim=1)
    return margin.numpy(), states


@dataclass(frozen=True)
class ProbeResult:
    """A probe read on the evaluation questions, against always-"no"."""
    layer: int
    cv_auc: float
    auc: float
    accuracy: float
    ci: tuple[float, float]
    yes_rate: float
    always_no: float
    p_value: float

    def __str__(self) -> str:
        return (f"probe on layer {self.layer} (fit CV AUC {self.cv_auc:.3f}): AUC {self.auc:.3f}, accuracy "
                f"{self.accuracy:.3f} ({self.ci[0]:.3f}–{self.ci[1]:.3f}), yes rate {self.yes_rate:.3f}, "
                f"vs always-no {self.always_no:.3f}: McNemar p = {self.p_value:.3g}")


def probe_report(states: np.ndarray, gold: np.ndarray, evaluate: slice, fit: slice,
                 layer: int | None = None) -> ProbeResult:
    """Fit the head on ``fit`` (states [n, hidden] or [n, layers, hidden]: then on ``layer``, by default the one
    that cross-validates best on ``fit``) and read it on ``evaluate``: AUC, accuracy with its 95% CI, and the
    exact McNemar p against always-"no"."""
    states = states[:, None] if states.ndim == 2 else states
    head = fit_yes_no_head("probe", states[fit], gold[fit], {}, layer)
    p_yes = head.p_yes(states[evaluate])
    correct = ((p_yes > 0.5) == gold[evaluate]).astype(float)
    always_no = (~gold[evaluate]).astype(float)
    _, p_value = paired_p_value(correct, always_no, binary=True)
    return ProbeResult(head.layer, head.training["cv_auc"],
                       float(roc_auc_score(gold[evaluate], p_yes)), float(correct.mean()), bootstrap_ci(correct),
                       float((p_yes > 0.5).mean()), float(always_no.mean()), float(p_value))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--evaluate", type=int, default=200, help="the evaluation sample: the first N questions")
    parser.add_argument("--fit", type=int, default=400, help="questions after those, used to fit the threshold")
    parser.add_argument("--top-k", type=int, action="append", help="passages per prompt; 0 = closed-book")
    parser.add_argument("--passage-words", type=int, default=50)
    parser.add_argument("--probe", action="store_true", help="also fit a linear probe on the hidden states")
    parser.add_argument("--layer", type=int, help="the probe's layer (0 = embeddings; default: chosen by 5-fold "
                                                   "cross-validation on the fitting questions)")
    parser.add_argument("--cache", type=Path, help="save the states here as they are computed (resumable)")
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
        margin, states = decision_scores(generator, prompts, cache=args.cache)
        threshold = np.quantile(margin[fit], 1 - gold[fit].mean())
        print(f"{top_k:>5} {roc_auc_score(gold[evaluate], margin[evaluate]):9.3f} "
              f"{roc_auc_score(gold[fit], margin[fit]):8.3f} {((margin[evaluate] > 0) == gold[evaluate]).mean():9.3f} "
              f"{(margin[evaluate] > 0).mean():9.3f} {((margin[evaluate] > threshold) == gold[evaluate]).mean():15.3f}")
        if args.probe:
            print(f"{top_k:>5} {probe_report(states, gold, evaluate, fit, args.layer)}", flush=True)


if __name__ == "__main__":
    main()
